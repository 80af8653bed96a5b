module rollout-operator.dev/tools/pause

go 1.22
