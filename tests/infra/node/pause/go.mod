module chaos.engineering/node-bed/pause

go 1.26
