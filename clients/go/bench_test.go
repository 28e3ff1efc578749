package micro_test

import (
	"testing"

	"github.com/micro-user-service/micro/clients/go/internal/benchkit"
)

// BenchmarkVerify is the SDK's cost per token (JWKS cached); compare it with
// BenchmarkBareGoJose on the same token (target: at most 1.2 times).
func BenchmarkVerify(b *testing.B) {
	fixture, err := benchkit.New()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := fixture.SDK(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBareGoJose is go-jose's parse + RS256 verify + claims decode and check, key in hand.
func BenchmarkBareGoJose(b *testing.B) {
	fixture, err := benchkit.New()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := fixture.Bare(); err != nil {
			b.Fatal(err)
		}
	}
}
