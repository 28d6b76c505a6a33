package ingest_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/watchtower-fleet/watchtower/ingest"
	"github.com/watchtower-fleet/watchtower/internal/testenv"
)

// Run consumes until its context ends and returns only once the batch in
// hand is finished.
func TestConsumerRun(t *testing.T) {
	t.Parallel()
	env := newWebhookEnv(t, ingest.WebhookConfig{Token: testToken}, nil)
	inHand, release := make(chan struct{}), make(chan struct{})
	finished := false
	c := ingest.NewConsumer(env.rdb, ingest.ConsumerConfig{Stream: env.stream, DeadStream: env.stream + ":dead", Group: "run",
		Block: 50 * time.Millisecond}, func(ctx context.Context, msgs []ingest.Message) error {
		close(inHand)
		<-release
		finished = true
		return nil
	}, testenv.Logger(t), ingest.NewConsumerMetrics(prometheus.NewRegistry()))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ran := make(chan error, 1)
	go func() { ran <- c.Run(ctx) }()
	if code, resp := env.post(t, "/webhooks/loconav/location", fixture(t, "live-location.json"), bearer); code != 202 {
		t.Fatalf("%d %s", code, resp)
	}
	select {
	case <-inHand:
	case <-time.After(10 * time.Second):
		t.Fatal("the consumer did not take the message")
	}
	cancel()
	select {
	case err := <-ran:
		t.Fatalf("Run returned %v with a batch in hand", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	select {
	case err := <-ran:
		if err != nil || !finished {
			t.Errorf("Run = %v, batch finished %v", err, finished)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return once its batch was finished")
	}

	// A consumer without a group does not run.
	if err := ingest.NewConsumer(env.rdb, ingest.ConsumerConfig{Stream: env.stream}, nil, testenv.Logger(t), ingest.NewConsumerMetrics(prometheus.NewRegistry())).Run(t.Context()); err == nil {
		t.Error("Run without a group succeeded")
	}
}
