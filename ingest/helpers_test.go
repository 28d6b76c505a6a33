package ingest_test

import (
	"github.com/watchtower-fleet/watchtower/loconav/loconavtest"
)

var (
	lagos  = loconavtest.Lagos
	parser = loconavtest.Parser
)

// fixture is one of LocoNav's published webhook examples.
var fixture = loconavtest.Webhook
