"""Self-test of the k8s-bed.sh cluster, with the Python `kubernetes` client only.

Run by `tests/infra/k8s-bed.sh selftest` with KUBECONFIG set. It checks, in a throwaway namespace:
  1. a Deployment of 3 replicas gets 3 Ready pods (scheduler + KWOK pod-ready stage);
  2. a deleted pod is removed (KWOK pod-delete stage) and the ReplicaSet replaces it with a Ready one;
  3. with a PodDisruptionBudget minAvailable=3 an Eviction is refused with 429; with minAvailable=2 it
     is accepted and the pod is replaced;
  4. a DaemonSet is Ready on every node;
  5. a TokenRequest token of a ServiceAccount is authenticated, denied without RBAC, allowed with a Role;
and deletes the namespace (namespace controller + garbage collector + KWOK) at the end.
"""

import argparse
import sys
import time
import uuid

from kubernetes import client, config
from kubernetes.client.rest import ApiException

TIMEOUT = 120
LABELS = {"app": "selftest"}


def log(msg):
    print(f"selftest: {msg}", flush=True)


def wait(what, predicate, timeout=TIMEOUT, interval=0.5):
    """Poll predicate() until it returns a truthy value; return that value."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except ApiException as exc:  # a transient error is retried until the deadline
            value, last = None, exc
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last error: {last})")


def pod_ready(pod):
    if pod.metadata.deletion_timestamp or pod.status.phase != "Running":
        return False
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])


def ready_pods(core, ns, selector="app=selftest"):
    pods = core.list_namespaced_pod(ns, label_selector=selector).items
    return [p for p in pods if pod_ready(p)]


def container():
    return client.V1Container(name="main", image="registry.invalid/selftest:1")


def check_deployment(apps, core, ns):
    dep = client.V1Deployment(
        metadata=client.V1ObjectMeta(name="web"),
        spec=client.V1DeploymentSpec(
            replicas=3,
            selector=client.V1LabelSelector(match_labels=LABELS),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=LABELS),
                spec=client.V1PodSpec(containers=[container()], termination_grace_period_seconds=5),
            ),
        ),
    )
    t0 = time.monotonic()
    apps.create_namespaced_deployment(ns, dep)

    def three_ready():
        found = ready_pods(core, ns)
        return found if len(found) == 3 else None

    pods = wait("3 Ready pods of the Deployment", three_ready)
    wait("Deployment status readyReplicas=3",
         lambda: apps.read_namespaced_deployment(dep.metadata.name, ns).status.ready_replicas == 3)
    nodes = sorted({p.spec.node_name for p in pods})
    log(f"ok: Deployment web has 3 Ready pods after {time.monotonic() - t0:.1f}s on nodes {nodes}")
    return pods


def check_recreate(core, ns, pods):
    victim = pods[0].metadata.name
    old = {p.metadata.name for p in pods}
    t0 = time.monotonic()
    core.delete_namespaced_pod(victim, ns)

    def gone():
        try:
            core.read_namespaced_pod(victim, ns)
            return False
        except ApiException as exc:
            if exc.status == 404:
                return True
            raise

    wait(f"pod {victim} to be removed", gone)

    def replaced():
        ready = ready_pods(core, ns)
        names = {p.metadata.name for p in ready}
        return ready if len(ready) == 3 and victim not in names and names - old else None

    ready = wait("the ReplicaSet to replace the deleted pod", replaced)
    new = sorted({p.metadata.name for p in ready} - old)
    log(f"ok: deleted pod {victim} was removed and replaced by Ready {new} in {time.monotonic() - t0:.1f}s")
    return ready


def evict(core, ns, name):
    body = client.V1Eviction(metadata=client.V1ObjectMeta(name=name, namespace=ns))
    return core.create_namespaced_pod_eviction(name, ns, body)


def check_pdb(policy, core, ns, pods):
    pdb = client.V1PodDisruptionBudget(
        metadata=client.V1ObjectMeta(name="web"),
        spec=client.V1PodDisruptionBudgetSpec(min_available=3, selector=client.V1LabelSelector(match_labels=LABELS)),
    )
    policy.create_namespaced_pod_disruption_budget(ns, pdb)

    def observed(allowed):
        def check():
            cur = policy.read_namespaced_pod_disruption_budget("web", ns)
            st = cur.status
            return (st is not None and st.observed_generation == cur.metadata.generation
                    and st.current_healthy == 3 and st.disruptions_allowed == allowed)
        return check

    wait("the disruption controller to observe the PDB (3 healthy, 0 allowed)", observed(0))
    victim = pods[0].metadata.name
    try:
        evict(core, ns, victim)
    except ApiException as exc:
        if exc.status != 429:
            raise AssertionError(f"eviction under minAvailable=3 failed with {exc.status}, want 429: {exc.body}")
        log(f"ok: eviction of {victim} refused with 429 under PDB minAvailable=3")
    else:
        raise AssertionError("eviction under PDB minAvailable=3 was accepted")
    policy.patch_namespaced_pod_disruption_budget("web", ns, {"spec": {"minAvailable": 2}})
    wait("the PDB to allow 1 disruption", observed(1))
    evict(core, ns, victim)
    old = {p.metadata.name for p in pods}

    def replaced():
        names = {p.metadata.name for p in ready_pods(core, ns)}
        return len(names) == 3 and victim not in names and names - old

    wait("the evicted pod to be replaced", replaced)
    log(f"ok: eviction of {victim} accepted under minAvailable=2 and the pod was replaced")


def check_daemonset(apps, core, ns, nodes):
    labels = {"app": "selftest-ds"}
    ds = client.V1DaemonSet(
        metadata=client.V1ObjectMeta(name="agent"),
        spec=client.V1DaemonSetSpec(
            selector=client.V1LabelSelector(match_labels=labels),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=labels),
                spec=client.V1PodSpec(containers=[container()], termination_grace_period_seconds=5),
            ),
        ),
    )
    t0 = time.monotonic()
    apps.create_namespaced_daemon_set(ns, ds)

    def ready():
        st = apps.read_namespaced_daemon_set("agent", ns).status
        return st.desired_number_scheduled == nodes and st.number_ready == nodes

    wait(f"DaemonSet Ready on {nodes} nodes", ready)
    on = sorted(p.spec.node_name for p in ready_pods(core, ns, "app=selftest-ds"))
    if len(set(on)) != nodes:
        raise AssertionError(f"DaemonSet pods on {on}, want one on each of {nodes} nodes")
    log(f"ok: DaemonSet agent Ready on {on} after {time.monotonic() - t0:.1f}s")


def check_token_rbac(core, rbac, ns):
    core.create_namespaced_service_account(ns, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="reader")))
    req = client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=600))
    token = core.create_namespaced_service_account_token("reader", ns, req).status.token
    base = client.Configuration.get_default_copy()
    cfg = client.Configuration(host=base.host, api_key={"authorization": f"Bearer {token}"})
    cfg.ssl_ca_cert = base.ssl_ca_cert
    limited = client.CoreV1Api(client.ApiClient(cfg))
    try:
        limited.list_namespaced_pod(ns)
    except ApiException as exc:
        if exc.status != 403:
            raise AssertionError(f"token without RBAC: {exc.status}, want 403")
    else:
        raise AssertionError("token without RBAC could list pods")
    rbac.create_namespaced_role(ns, client.V1Role(
        metadata=client.V1ObjectMeta(name="pod-reader"),
        rules=[client.V1PolicyRule(api_groups=[""], resources=["pods"], verbs=["get", "list"])]))
    rbac.create_namespaced_role_binding(ns, client.V1RoleBinding(
        metadata=client.V1ObjectMeta(name="pod-reader"),
        role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="Role", name="pod-reader"),
        subjects=[client.RbacV1Subject(kind="ServiceAccount", name="reader", namespace=ns)]))
    n = len(wait("the Role to take effect", lambda: limited.list_namespaced_pod(ns).items or None))
    try:
        limited.delete_collection_namespaced_pod(ns)
    except ApiException as exc:
        if exc.status != 403:
            raise
    else:
        raise AssertionError("a get/list Role allowed deleting pods")
    log(f"ok: TokenRequest token: 403 without RBAC, lists {n} pods with a Role, still 403 on delete")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the namespace")
    args = parser.parse_args()
    config.load_kube_config()
    core, apps = client.CoreV1Api(), client.AppsV1Api()
    policy, rbac = client.PolicyV1Api(), client.RbacAuthorizationV1Api()
    ready_nodes = [n.metadata.name for n in core.list_node().items
                   if any(c.type == "Ready" and c.status == "True" for c in n.status.conditions or [])]
    if len(ready_nodes) < args.nodes:
        raise AssertionError(f"only {len(ready_nodes)} Ready nodes: {ready_nodes}")
    log(f"ok: {len(ready_nodes)} Ready nodes {sorted(ready_nodes)}; server {client.VersionApi().get_code().git_version}")
    ns = f"chaos-selftest-{uuid.uuid4().hex[:6]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
    wait("the default ServiceAccount in the new namespace",
         lambda: core.read_namespaced_service_account("default", ns))
    try:
        pods = check_deployment(apps, core, ns)
        pods = check_recreate(core, ns, pods)
        check_pdb(policy, core, ns, pods)
        check_daemonset(apps, core, ns, len(ready_nodes))
        check_token_rbac(core, rbac, ns)
    finally:
        if not args.keep:
            core.delete_namespace(ns)

    if not args.keep:
        def ns_gone():
            try:
                core.read_namespace(ns)
                return False
            except ApiException as exc:
                return exc.status == 404

        t0 = time.monotonic()
        wait(f"namespace {ns} to be deleted", ns_gone, timeout=180)
        log(f"ok: namespace {ns} and everything in it deleted in {time.monotonic() - t0:.1f}s")
    log("all checks passed")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except AssertionError as exc:
        log(f"FAIL: {exc}")
        sys.exit(1)
