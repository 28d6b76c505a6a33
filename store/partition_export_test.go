package store

// EnsureDays lets the external tests make partitions as RecordFixes does.
var EnsureDays = (*DB).ensureDays
