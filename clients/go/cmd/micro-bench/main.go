// Command micro-bench measures the Go verifier's cost per token against a bare go-jose
// verification of the same token (P9), and prints one JSON line:
//
//	{"language": "go", "sdk_ns_per_token": ..., "bare_ns_per_token": ..., "ratio": ...}
//
// -smoke runs a few hundred verifications only (a check that it works, not a measurement).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/micro-user-service/micro/clients/go/internal/benchkit"
)

func main() {
	smoke := flag.Bool("smoke", false, "a short run: checks the bench works, measures little")
	duration := flag.Duration("duration", 2*time.Second, "time per side and round")
	rounds := flag.Int("rounds", 3, "rounds; each side's best round counts")
	flag.Parse()
	if *smoke {
		*duration, *rounds = 50*time.Millisecond, 1
	}
	fixture, err := benchkit.New()
	if err != nil {
		fmt.Fprintln(os.Stderr, "micro-bench:", err)
		os.Exit(1)
	}
	sdk, bare := -1.0, -1.0
	// The sides alternate and each keeps its best round, so a neighbour's load on a shared
	// machine weighs on neither more than the other.
	for range *rounds {
		sdk = best(sdk, measure(fixture.SDK, *duration))
		bare = best(bare, measure(fixture.Bare, *duration))
	}
	line, _ := json.Marshal(struct {
		Language string  `json:"language"`
		SDK      float64 `json:"sdk_ns_per_token"`
		Bare     float64 `json:"bare_ns_per_token"`
		Ratio    float64 `json:"ratio"`
	}{"go", round(sdk), round(bare), round(sdk/bare*1000) / 1000})
	fmt.Println(string(line))
}

// measure is the mean nanoseconds per call of verify over about duration.
func measure(verify func() error, duration time.Duration) float64 {
	calls := 0
	start := time.Now()
	for time.Since(start) < duration {
		for range 20 {
			if err := verify(); err != nil {
				fmt.Fprintln(os.Stderr, "micro-bench:", err)
				os.Exit(1)
			}
		}
		calls += 20
	}
	return float64(time.Since(start).Nanoseconds()) / float64(calls)
}

func best(current, candidate float64) float64 {
	if current < 0 || candidate < current {
		return candidate
	}
	return current
}

func round(value float64) float64 { return float64(int64(value + 0.5)) }
