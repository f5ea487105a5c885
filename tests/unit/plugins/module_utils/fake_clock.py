"""A clock for polling loops under test: ``clock()`` reads it, ``clock.sleep(s)`` moves it on at once."""


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds
