package store

import (
	"context"
	"testing"
	"time"
)

// BenchmarkGetTenant measures the per-request tenant lookup (a query plus
// the AES-GCM decryption of the shared secret) on SQLite.
func BenchmarkGetTenant(b *testing.B) {
	s := openStore(b, sqliteConfig(b))
	ctx := context.Background()
	if err := s.SaveTenant(ctx, sampleTenant("ck-bench", "bench-secret-0123456789", time.Now())); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.GetTenant(ctx, "ck-bench"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSaveTenant measures the install upsert on SQLite.
func BenchmarkSaveTenant(b *testing.B) {
	s := openStore(b, sqliteConfig(b))
	ctx := context.Background()
	t := sampleTenant("ck-bench", "bench-secret-0123456789", time.Now())
	b.ReportAllocs()
	for b.Loop() {
		if err := s.SaveTenant(ctx, t); err != nil {
			b.Fatal(err)
		}
	}
}
