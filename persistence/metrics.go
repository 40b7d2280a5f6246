package persistence

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metricsScanLimit bounds the key-only scans that count timers and outbox
// entries at each scrape: past it the gauge reads the limit (and the
// problem is plain anyway).
const metricsScanLimit = 100_000

// commitBuckets are the buckets of the synced-write histogram: 100 µs to
// about 3 s.
var commitBuckets = prometheus.ExponentialBuckets(0.0001, 2, 16)

func newCommitHistogram() prometheus.Histogram {
	return prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "parley_store_commit_duration_seconds",
		Help:    "Time of one synced Pebble write (a group of batches), fsync included.",
		Buckets: commitBuckets,
	})
}

// newKnowledgeHistogram is the knowledge search's latency: 10 µs to
// about 0.3 s.
func newKnowledgeHistogram() prometheus.Histogram {
	return prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "parley_knowledge_retrieval_seconds",
		Help:    "Time of one knowledge base search (the passages handed to an agent, or the tester's).",
		Buckets: prometheus.ExponentialBuckets(0.00001, 2, 16),
	})
}

// CountKeys counts the durable timers and outbox entries, each up to a
// bound (metricsScanLimit): the scans read keys only.
func (s *Store) CountKeys() (timers, outbox int, err error) {
	if timers, err = s.countKeysUpTo(timerPrefix, metricsScanLimit); err != nil {
		return 0, 0, err
	}
	outbox, err = s.countKeysUpTo(outboxPrefix, metricsScanLimit)
	return timers, outbox, err
}

// Collector returns a Prometheus collector of the store's figures: the
// data directory's format and the migrations Open ran, its commit latency
// and counts, the durable timers and outbox entries, and
// Pebble's own metrics (compactions, flushes, WAL, read amplification,
// disk usage, block cache, levels), read from db.Metrics() at each
// scrape.
func (s *Store) Collector() prometheus.Collector { return &storeCollector{s: s} }

type storeCollector struct{ s *Store }

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

var (
	dCommits        = desc("parley_store_commits_total", "Batches committed.")
	dGroups         = desc("parley_store_commit_groups_total", "Synced writes the committed batches were grouped into.")
	dMisuse         = desc("parley_store_single_delete_misuse_total", "Keys Pebble found set twice before a single delete (a bug if not zero).")
	dTimers         = desc("parley_timers_pending", "Durable timers waiting to fire (counted up to 100000).")
	dCorrupt        = desc("parley_store_corrupt_records_total", "Stored records that did not decode and were skipped by a list, messages or search page (counted once per key while the process runs).", "kind")
	dFormat         = desc("parley_store_format_version", "Format version of the data directory (persistence.FormatVersion once open).")
	dMigrationSteps = desc("parley_store_migration_steps_total", "Migration steps run on the data directory when this process opened it.")
	dMigrationTime  = desc("parley_store_migration_duration_seconds_total", "Time spent migrating the data directory when this process opened it.")
	dOutbox         = desc("parley_outbox_entries", "Outbound messages accepted and not yet answered by the channel (counted up to 100000).")
	dCompactions    = desc("parley_pebble_compactions_total", "Pebble compactions since the store opened.")
	dCompactRunning = desc("parley_pebble_compactions_in_progress", "Pebble compactions running.")
	dCompactDebt    = desc("parley_pebble_compaction_debt_bytes", "Bytes Pebble estimates it must compact to reach a stable shape.")
	dCompactTime    = desc("parley_pebble_compaction_duration_seconds_total", "Time spent in Pebble compactions since the store opened.")
	dFlushes        = desc("parley_pebble_flushes_total", "Pebble memtable flushes since the store opened.")
	dMemtable       = desc("parley_pebble_memtable_size_bytes", "Bytes allocated by Pebble memtables.")
	dWALSize        = desc("parley_pebble_wal_size_bytes", "Live data in the Pebble write-ahead log.")
	dWALPhysical    = desc("parley_pebble_wal_physical_size_bytes", "On-disk size of the Pebble write-ahead log files.")
	dWALFiles       = desc("parley_pebble_wal_files", "Live Pebble write-ahead log files.")
	dWALBytes       = desc("parley_pebble_wal_written_bytes_total", "Bytes written to the Pebble write-ahead log.")
	dReadAmp        = desc("parley_pebble_read_amplification", "Pebble read amplification: sstables (sublevels) a point read may touch.")
	dDisk           = desc("parley_pebble_disk_usage_bytes", "Disk space used by the Pebble store, live and obsolete files.")
	dCacheSize      = desc("parley_pebble_block_cache_size_bytes", "Bytes in the Pebble block cache.")
	dCacheHits      = desc("parley_pebble_block_cache_hits_total", "Pebble block cache hits.")
	dCacheMisses    = desc("parley_pebble_block_cache_misses_total", "Pebble block cache misses.")
	dLevelTables    = desc("parley_pebble_level_tables", "Sstables in a Pebble level.", "level")
	dLevelBytes     = desc("parley_pebble_level_size_bytes", "Bytes of sstables in a Pebble level.", "level")
)

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{dCommits, dGroups, dMisuse, dCorrupt, dFormat, dMigrationSteps, dMigrationTime, dTimers, dOutbox, dCompactions, dCompactRunning,
		dCompactDebt, dCompactTime, dFlushes, dMemtable, dWALSize, dWALPhysical, dWALFiles, dWALBytes, dReadAmp,
		dDisk, dCacheSize, dCacheHits, dCacheMisses, dLevelTables, dLevelBytes} {
		ch <- d
	}
	c.s.commitSeconds.Describe(ch)
	c.s.knowledgeSeconds.Describe(ch)
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	counter := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, l...)
	}
	gauge := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
	}
	st := s.Stats()
	counter(dCommits, float64(st.Commits))
	counter(dGroups, float64(st.Groups))
	counter(dMisuse, float64(st.SingleDeleteMisuse))
	corrupt := s.corruptCounts()
	for _, kind := range []string{corruptConversation, corruptMessage} {
		counter(dCorrupt, float64(corrupt[kind]), kind)
	}
	gauge(dFormat, float64(s.FormatVersion()))
	counter(dMigrationSteps, float64(s.MigrationSteps()))
	counter(dMigrationTime, s.migrationSeconds)
	ch <- s.commitSeconds
	ch <- s.knowledgeSeconds
	if err := s.enter(); err != nil {
		return // closed: Pebble's figures are gone
	}
	m := s.db.Metrics()
	s.leave()
	if timers, outbox, err := s.CountKeys(); err == nil {
		gauge(dTimers, float64(timers))
		gauge(dOutbox, float64(outbox))
	} else {
		s.log.Warn("Counting timers and outbox for metrics", "err", err)
	}
	counter(dCompactions, float64(m.Compact.Count))
	gauge(dCompactRunning, float64(m.Compact.NumInProgress))
	gauge(dCompactDebt, float64(m.Compact.EstimatedDebt))
	counter(dCompactTime, m.Compact.Duration.Seconds())
	counter(dFlushes, float64(m.Flush.Count))
	gauge(dMemtable, float64(m.MemTable.Size))
	gauge(dWALSize, float64(m.WAL.Size))
	gauge(dWALPhysical, float64(m.WAL.PhysicalSize))
	gauge(dWALFiles, float64(m.WAL.Files))
	counter(dWALBytes, float64(m.WAL.BytesWritten))
	gauge(dReadAmp, float64(m.ReadAmp()))
	gauge(dDisk, float64(m.DiskSpaceUsage()))
	gauge(dCacheSize, float64(m.BlockCache.Size))
	counter(dCacheHits, float64(m.BlockCache.Hits))
	counter(dCacheMisses, float64(m.BlockCache.Misses))
	for i, l := range m.Levels {
		gauge(dLevelTables, float64(l.TablesCount), strconv.Itoa(i))
		gauge(dLevelBytes, float64(l.TablesSize), strconv.Itoa(i))
	}
}

// observeCommit records one synced write's duration.
func (s *Store) observeCommit(d time.Duration) { s.commitSeconds.Observe(d.Seconds()) }
