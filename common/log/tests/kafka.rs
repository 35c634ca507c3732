//! The Kafka log against a real Kafka-protocol broker (tansu, started per
//! test by [`TestBroker`]): round trips, end offsets, readers (driven from a
//! glommio executor, as the ingester does), out-of-range offsets, a broker
//! outage, the version header, the bounded producer buffer and offset commits.
//!
//! Run: `cargo nextest run -p strata-log --features kafka --test kafka`
//! (needs tansu: `.ci/run` installs it).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::FutureExt;
use futures::executor::block_on;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::topic_partition_list::{Offset as KafkaOffset, TopicPartitionList};
use strata_common::{Error, ErrorKind};
use strata_log::kafka::{KafkaConfig, KafkaLog, TestBroker, header::VERSION_HEADER};
use strata_log::{Log, LogReader, LogRecord};

/// A payload the version header check accepts: a version-2 byte, then text.
fn payload(p: u32, i: u64) -> Bytes {
    let mut v = vec![2u8];
    v.extend_from_slice(format!("p{p}-r{i}-").as_bytes());
    v.extend(std::iter::repeat_n((i % 251) as u8, (i as usize * 37) % 700));
    Bytes::from(v)
}

/// Reads `[from, end)` of `partition` on a glommio executor, like an ingester shard.
fn read_on_glommio(log: &Arc<KafkaLog>, partition: u32, from: u64, end: u64) -> Vec<LogRecord> {
    let reader = log.open_reader(partition, from).unwrap();
    let ex = glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound).make().unwrap();
    ex.run(async move {
        let mut reader = reader;
        let mut out = Vec::new();
        while reader.position() < end {
            let batch = reader.next_batch(5).await.unwrap();
            assert!(!batch.is_empty() && batch.len() <= 5, "batch of {}", batch.len());
            out.extend(batch);
        }
        out
    })
}

/// Reads `[from, end)` of `partition` by blocking on the reader's futures.
fn read_blocking(reader: &mut dyn LogReader, end: u64) -> Vec<LogRecord> {
    let mut out = Vec::new();
    while reader.position() < end {
        out.extend(block_on(reader.next_batch(100)).unwrap());
    }
    out
}

#[test]
fn append_read_round_trip_across_partitions() {
    let broker = TestBroker::start();
    let log = KafkaLog::connect(&KafkaConfig { partitions: 3, ..broker.config("round-trip") }).unwrap();
    assert_eq!(log.partition_count(), 3);
    let mut expected: Vec<Vec<Bytes>> = vec![Vec::new(); 3];
    for i in 0..30u64 {
        let p = (i % 3) as u32;
        let batch: Vec<Bytes> = (0..(i % 4 + 1)).map(|j| payload(p, i * 10 + j)).collect();
        let first = block_on(log.append(p, batch.clone())).unwrap();
        assert_eq!(first, expected[p as usize].len() as u64, "partition {p}");
        expected[p as usize].extend(batch);
    }
    let ends = block_on(log.end_offsets()).unwrap();
    assert_eq!(ends, expected.iter().map(|e| e.len() as u64).collect::<Vec<_>>());
    assert_eq!(block_on(log.start_offsets()).unwrap(), vec![0, 0, 0]);
    // An empty append is the end offset.
    assert_eq!(block_on(log.append(1, vec![])).unwrap(), ends[1]);

    for p in 0..3u32 {
        let got = read_on_glommio(&log, p, 0, ends[p as usize]);
        let offsets: Vec<u64> = got.iter().map(|r| r.offset).collect();
        assert_eq!(offsets, (0..ends[p as usize]).collect::<Vec<_>>(), "partition {p}");
        let payloads: Vec<&Bytes> = got.iter().map(|r| &r.payload).collect();
        assert_eq!(payloads, expected[p as usize].iter().collect::<Vec<_>>(), "partition {p}");
    }

    // A reader resumes from any offset, including the end (then waits for new records).
    let mid = ends[2] / 2;
    let mut r = log.open_reader(2, mid).unwrap();
    assert_eq!(r.position(), mid);
    let got = read_blocking(&mut *r, ends[2]);
    assert_eq!(got.first().map(|r| r.offset), Some(mid));
    assert_eq!(got.iter().map(|r| r.payload.clone()).collect::<Vec<_>>(), expected[2][mid as usize..].to_vec());
    let mut at_end = log.open_reader(2, ends[2]).unwrap();
    let late = payload(2, 999);
    assert_eq!(block_on(log.append(2, vec![late.clone()])).unwrap(), ends[2]);
    let got = read_blocking(&mut *at_end, ends[2] + 1);
    assert_eq!((got[0].offset, &got[0].payload), (ends[2], &late));
    // The same record through the reader that was already at `mid`.
    assert_eq!(read_blocking(&mut *r, ends[2] + 1).last().map(|r| r.offset), Some(ends[2]));
}

#[test]
fn every_accepted_codec_round_trips_through_the_broker() {
    let broker = TestBroker::start();
    for codec in ["none", "gzip", "lz4", "zstd"] {
        let topic = format!("codec-{codec}");
        let log = KafkaLog::connect(&KafkaConfig { compression: codec.into(), ..broker.config(&topic) }).unwrap();
        let batch: Vec<Bytes> = (0..20).map(|i| payload(1, i)).collect();
        assert_eq!(block_on(log.append(1, batch.clone())).unwrap(), 0, "{codec}");
        let got = read_on_glommio(&log, 1, 0, 20);
        assert_eq!(got.into_iter().map(|r| r.payload).collect::<Vec<_>>(), batch, "{codec}");
    }
}

#[test]
fn offsets_outside_the_partition_are_out_of_range() {
    let broker = TestBroker::start();
    let log = KafkaLog::connect(&broker.config("out-of-range")).unwrap();
    block_on(log.append(0, (0..4).map(|i| payload(0, i)).collect())).unwrap();
    match log.open_reader(0, 5) {
        Err(Error::OffsetOutOfRange { partition: 0, offset: 5, start: 0, end: 4 }) => {}
        other => panic!("expected OffsetOutOfRange, got {:?}", other.map(|r| r.position())),
    }
    assert!(matches!(log.open_reader(2, 0), Err(Error::NoSuchPartition { partition: 2, partitions: 2 })));
    assert!(matches!(block_on(log.append(7, vec![payload(7, 0)])), Err(Error::NoSuchPartition { .. })));
    assert!(log.open_reader(0, 4).is_ok());
}

#[test]
fn existing_topic_keeps_its_partition_count_and_missing_topic_can_be_refused() {
    let broker = TestBroker::start();
    let created = KafkaLog::connect(&KafkaConfig { partitions: 3, ..broker.config("fixed") }).unwrap();
    assert_eq!(created.partition_count(), 3);
    let reopened = KafkaLog::connect(&KafkaConfig { partitions: 5, ..broker.config("fixed") }).unwrap();
    assert_eq!(reopened.partition_count(), 3);
    let e = KafkaLog::connect(&KafkaConfig { create_topic: false, ..broker.config("absent") }).unwrap_err();
    assert!(e.to_string().contains("create_topic is false"), "{e}");
}

#[test]
fn broker_outage_fails_appends_in_time_and_loses_nothing_acknowledged() {
    let mut broker = TestBroker::start();
    let config = KafkaConfig { produce_timeout_ms: 2_000, request_timeout_ms: 2_000, ..broker.config("outage") };
    let log = KafkaLog::connect(&config).unwrap();
    let mut acked: Vec<Bytes> = Vec::new();
    let mut i = 0u64;
    // On tokio, like the distributor (the append deadline uses tokio's timer).
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let mut append = |log: &KafkaLog, acked: &mut Vec<Bytes>| {
        let batch: Vec<Bytes> = (0..3).map(|j| payload(0, i * 3 + j)).collect();
        i += 1;
        let r = rt.block_on(log.append(0, batch.clone()));
        if r.is_ok() {
            acked.extend(batch);
        }
        r
    };
    for _ in 0..5 {
        append(&log, &mut acked).unwrap();
    }

    // A reader open across the outage carries on after it.
    let mut live = log.open_reader(0, 0).unwrap();
    assert_eq!(read_blocking(&mut *live, 15).len(), 15);

    broker.stop();
    let start = Instant::now();
    let e = append(&log, &mut acked).unwrap_err();
    let took = start.elapsed();
    assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");
    assert!(took < Duration::from_millis(2_600), "the append failed after {took:?}: {e}");
    assert!(matches!(block_on(log.end_offsets()), Err(ref e) if e.kind() == ErrorKind::Unavailable));

    broker.restart();
    // librdkafka reconnects with backoff; appends succeed again shortly.
    let deadline = Instant::now() + Duration::from_secs(30);
    while append(&log, &mut acked).is_err() {
        assert!(Instant::now() < deadline, "appends still fail after the restart; broker log:\n{}", broker.log());
    }
    for _ in 0..5 {
        append(&log, &mut acked).unwrap();
    }

    // Every acknowledged record is there exactly once (the failed ones at most once).
    let end = loop {
        match block_on(log.end_offsets()) {
            Ok(ends) => break ends[0],
            Err(e) => assert!(Instant::now() < deadline, "end offsets still fail after the restart: {e}"),
        }
    };
    let mut reader = log.open_reader(0, 0).unwrap();
    let got = read_blocking(&mut *reader, end);
    let mut seen: HashMap<&Bytes, usize> = HashMap::new();
    for r in &got {
        *seen.entry(&r.payload).or_default() += 1;
    }
    assert!(seen.values().all(|&n| n == 1), "a record was stored twice");
    let rest = read_blocking(&mut *live, end);
    assert_eq!(rest.first().map(|r| r.offset), Some(15));
    assert_eq!(
        rest.iter().map(|r| &r.payload).collect::<Vec<_>>(),
        got[15..].iter().map(|r| &r.payload).collect::<Vec<_>>()
    );
    for p in &acked {
        assert_eq!(seen.get(p), Some(&1), "acknowledged record {:?} missing", &p[..12]);
    }
}

#[test]
fn a_full_producer_buffer_is_a_limit_error() {
    let mut broker = TestBroker::start();
    let config = KafkaConfig {
        max_in_flight_bytes: 1 << 20,
        max_record_bytes: 1 << 20,
        produce_timeout_ms: 5_000,
        ..broker.config("overload")
    };
    let log = KafkaLog::connect(&config).unwrap();
    broker.stop();
    // With the broker gone nothing is acknowledged: the buffer fills.
    let big = Bytes::from([vec![2u8], vec![7u8; 300 << 10]].concat());
    let mut pending: Vec<_> = (0..3).map(|_| log.append(0, vec![big.clone()])).collect();
    for f in &mut pending {
        // Polled once: the records are queued, the acknowledgement never comes.
        assert!(f.now_or_never().is_none());
    }
    let e = block_on(log.append(0, vec![big.clone(), big.clone()])).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::LimitExceeded, "{e}");
    assert!(e.to_string().contains("max_in_flight_bytes"), "{e}");
    drop(pending);
}

#[test]
fn records_without_a_known_version_header_come_back_to_be_skipped() {
    let broker = TestBroker::start();
    let config = broker.config("headers");
    let log = KafkaLog::connect(&config).unwrap();
    block_on(log.append(0, vec![payload(0, 0)])).unwrap();
    // A foreign producer: no header, then an unknown version.
    let raw: ThreadedProducer<DefaultProducerContext> =
        rdkafka::ClientConfig::new().set("bootstrap.servers", broker.bootstrap()).create().unwrap();
    raw.send(BaseRecord::<(), [u8]>::to("headers").partition(0).payload(&b"\x02no header"[..])).unwrap();
    let v9 = OwnedHeaders::new().insert(Header { key: VERSION_HEADER, value: Some("9") });
    raw.send(BaseRecord::<(), [u8]>::to("headers").partition(0).payload(&b"\x09future"[..]).headers(v9)).unwrap();
    raw.flush(Duration::from_secs(5)).unwrap();
    block_on(log.append(0, vec![payload(0, 3)])).unwrap();

    let mut reader = log.open_reader(0, 0).unwrap();
    let got = read_blocking(&mut *reader, 4);
    assert_eq!(got.iter().map(|r| r.offset).collect::<Vec<_>>(), vec![0, 1, 2, 3]);
    assert_eq!(got[0].payload, payload(0, 0));
    assert!(got[1].payload.is_empty(), "a record without the header is handed on empty");
    assert_eq!(&got[2].payload[..], &[9u8], "an unknown version is handed on as its version byte");
    assert_eq!(got[3].payload, payload(0, 3));
    // Which the record decoder turns into the errors the ingester counts and skips.
    let mut scratch = Vec::new();
    let e1 = strata_common::record::RecordView::parse(&got[1].payload, &mut scratch, 0, 1).err();
    assert!(matches!(e1, Some(Error::CorruptRecord { offset: 1, .. })), "{e1:?}");
    let e2 = strata_common::record::RecordView::parse(&got[2].payload, &mut scratch, 0, 2).err();
    assert!(matches!(e2, Some(Error::UnsupportedRecordVersion { version: 9, .. })), "{e2:?}");
}

#[test]
fn release_commits_the_offset_to_the_consumer_group() {
    let broker = TestBroker::start();
    let config = broker.config("commits").for_member("ingester-7");
    let log = KafkaLog::connect(&config).unwrap();
    block_on(log.append(0, (0..10).map(|i| payload(0, i)).collect())).unwrap();
    block_on(log.append(1, (0..4).map(|i| payload(1, i)).collect())).unwrap();
    log.release(0, 4).unwrap();
    log.release(0, 7).unwrap();
    log.release(1, 3).unwrap();
    assert!(matches!(log.release(9, 1), Err(Error::NoSuchPartition { .. })));

    let group: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("group.id", "strata-ingester-ingester-7")
        .create()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition("commits", 0);
        tpl.add_partition("commits", 1);
        let got = group.committed_offsets(tpl, Duration::from_secs(5)).unwrap();
        let offsets: Vec<KafkaOffset> = got.elements().iter().map(|e| e.offset()).collect();
        if offsets == [KafkaOffset::Offset(7), KafkaOffset::Offset(3)] {
            break;
        }
        assert!(Instant::now() < deadline, "committed offsets are {offsets:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Throughput probe (not a timed test; `#[ignore]`d): appends
/// `STRATA_TEST_PROBE_MB` (default 64) MB of realistic records (250 series of 6
/// labels, one sample each, as the distributor builds them from remote
/// write) through `KafkaLog` to tansu with 16 concurrent appenders, then
/// reads every partition back on one glommio executor; the same records
/// through the embedded log (fsync=always) give the reference ratio. Run:
/// `cargo nextest run -p strata-log --features kafka --test kafka --run-ignored only --no-capture probe`
#[test]
#[ignore]
fn probe_append_and_read_throughput() {
    use strata_common::record::RecordBuilder;
    use strata_common::{Sample, TenantId};
    use strata_log::embedded::{EmbeddedLog, EmbeddedLogConfig};

    let mb: usize = std::env::var("STRATA_TEST_PROBE_MB").ok().and_then(|v| v.parse().ok()).unwrap_or(64);
    let partitions = 8u32;
    let tenant = TenantId::new("probe").unwrap();
    let record = |n: usize| -> Bytes {
        let mut b = RecordBuilder::new(&tenant);
        for s in 0..250 {
            let id = n * 250 + s;
            let (inst, pod) = (format!("10.0.{}.{}:9100", id % 200, id % 250), format!("pod-{}", id % 5000));
            let labels = [
                ("__name__", "node_cpu_seconds_total"),
                ("cpu", ["0", "1", "2", "3"][id % 4]),
                ("instance", inst.as_str()),
                ("job", "node"),
                ("mode", ["idle", "user", "system"][id % 3]),
                ("pod", pod.as_str()),
            ];
            b.push_series(labels.into_iter(), &[Sample::new(1_700_000_000_000 + n as i64 * 15_000, id as f64 * 0.5)]);
        }
        Bytes::from(b.finish())
    };
    let mut records = Vec::new();
    let mut bytes = 0usize;
    while bytes < mb << 20 {
        let r = record(records.len());
        bytes += r.len();
        records.push(r);
    }
    let records = Arc::new(records);
    let n = records.len();
    println!("probe: {n} records, {:.1} MB, {} B/record, {} series/record", bytes as f64 / 1e6, bytes / n, 250);

    let append_all = |log: Arc<dyn Log>| -> Duration {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let start = Instant::now();
        rt.block_on(async {
            let tasks: Vec<_> = (0..16)
                .map(|t| {
                    let (log, records) = (log.clone(), records.clone());
                    tokio::spawn(async move {
                        for i in (t..records.len()).step_by(16) {
                            log.append(i as u32 % partitions, vec![records[i].clone()]).await.unwrap();
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
        });
        start.elapsed()
    };
    let read_all = |log: Arc<dyn Log>| -> Duration {
        let ends = block_on(log.end_offsets()).unwrap();
        let readers: Vec<_> = (0..partitions).map(|p| log.open_reader(p, 0).unwrap()).collect();
        let ex = glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound).make().unwrap();
        let start = Instant::now();
        let read = ex.run(async move {
            let tasks: Vec<_> = readers
                .into_iter()
                .zip(ends)
                .map(|(mut r, end)| {
                    glommio::spawn_local(async move {
                        let mut n = 0;
                        while r.position() < end {
                            n += r.next_batch(1000).await.unwrap().len();
                        }
                        n
                    })
                })
                .collect();
            let mut n = 0;
            for t in tasks {
                n += t.await;
            }
            n
        });
        assert_eq!(read, n);
        start.elapsed()
    };
    let report = |what: &str, d: Duration| {
        let s = d.as_secs_f64();
        println!("probe: {what:<24} {:>9.0} records/s {:>7.1} MB/s  ({s:.2} s)", n as f64 / s, bytes as f64 / 1e6 / s);
        s
    };

    let broker = TestBroker::start();
    let kafka: Arc<dyn Log> = KafkaLog::connect(&KafkaConfig { partitions, ..broker.config("probe") }).unwrap();
    let ka = report("kafka (tansu) append", append_all(kafka.clone()));
    let kr = report("kafka (tansu) read", read_all(kafka));

    let dir = tempfile::tempdir().unwrap();
    let embedded: Arc<dyn Log> =
        EmbeddedLog::open(EmbeddedLogConfig { dir: dir.path().into(), partitions, ..Default::default() }).unwrap();
    let ea = report("embedded append", append_all(embedded.clone()));
    let er = report("embedded read", read_all(embedded));
    println!("probe: kafka/embedded time ratio: append {:.1}x, read {:.1}x", ka / ea, kr / er);
}

/// Produces `n` records to partition 0 of `topic`, the first `old` of them
/// timestamped an hour ago (so tansu's retention of 60 s removes them when
/// its maintenance pass runs, at broker start).
fn produce_aged(broker: &TestBroker, topic: &str, n: u64, old: u64) {
    let raw: ThreadedProducer<DefaultProducerContext> =
        rdkafka::ClientConfig::new().set("bootstrap.servers", broker.bootstrap()).create().unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    for i in 0..n {
        let p = payload(0, i);
        let h = OwnedHeaders::new().insert(Header { key: VERSION_HEADER, value: Some("2") });
        let ts = if i < old { now - 3_600_000 } else { now };
        raw.send(BaseRecord::<(), [u8]>::to(topic).partition(0).payload(&p[..]).timestamp(ts).headers(h)).unwrap();
    }
    raw.flush(Duration::from_secs(10)).unwrap();
}

/// Creates `topic` (one partition) with a 60 s time retention.
fn create_with_retention(broker: &TestBroker, topic: &str) {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    let admin: AdminClient<rdkafka::client::DefaultClientContext> =
        rdkafka::ClientConfig::new().set("bootstrap.servers", broker.bootstrap()).create().unwrap();
    let t = NewTopic::new(topic, 1, TopicReplication::Fixed(1))
        .set("cleanup.policy", "delete")
        .set("retention.ms", "60000");
    let created = block_on(admin.create_topics([&t], &AdminOptions::new())).unwrap();
    assert!(created.iter().all(|r| r.is_ok()), "{created:?}");
}

#[test]
fn offsets_below_the_log_start_are_out_of_range() {
    let mut broker = TestBroker::start();
    create_with_retention(&broker, "retention");
    produce_aged(&broker, "retention", 6, 4);
    broker.restart(); // retention removes offsets 0..4
    let log = KafkaLog::connect(&KafkaConfig { partitions: 1, ..broker.config("retention") }).unwrap();
    assert_eq!((block_on(log.start_offsets()).unwrap(), block_on(log.end_offsets()).unwrap()), (vec![4], vec![6]));
    match log.open_reader(0, 1) {
        Err(Error::OffsetOutOfRange { partition: 0, offset: 1, start: 4, end: 6 }) => {}
        other => panic!("expected OffsetOutOfRange, got {:?}", other.map(|r| r.position())),
    }
    let mut r = log.open_reader(0, 4).unwrap();
    assert_eq!(read_blocking(&mut *r, 6).iter().map(|r| r.offset).collect::<Vec<_>>(), vec![4, 5]);
}

#[test]
fn a_reader_opened_while_the_broker_is_down_checks_its_range_when_it_returns() {
    let mut broker = TestBroker::start();
    let log = KafkaLog::connect(&broker.config("unchecked")).unwrap();
    block_on(log.append(0, (0..4).map(|i| payload(0, i)).collect())).unwrap();
    broker.stop();
    // The range check cannot run: the reader opens unchecked, within about a second.
    let start = Instant::now();
    let mut reader = log.open_reader(0, 100).unwrap();
    assert!(start.elapsed() < Duration::from_secs(3), "open_reader blocked for {:?}", start.elapsed());
    broker.restart();
    // Once the broker is back, the reader's thread finishes the check.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let got = rt.block_on(async { tokio::time::timeout(Duration::from_secs(30), reader.next_batch(10)).await });
    match got {
        Ok(Err(Error::OffsetOutOfRange { partition: 0, offset: 100, start: 0, end: 4 })) => {}
        Ok(other) => panic!("expected OffsetOutOfRange, got {:?}", other.map(|b| b.len())),
        Err(_) => panic!("no answer within 30 s"),
    }
}
