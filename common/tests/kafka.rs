//! The Kafka log against a real Kafka-protocol broker (tansu, started per
//! test by [`TestBroker`]): round trips, end offsets, readers (driven from a
//! glommio executor, as the ingester does), out-of-range offsets, a broker
//! outage, the version header, the bounded producer buffer and offset commits.
//!
//! Run: `cargo nextest run -p strata-common --features kafka --test kafka`
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
use strata_common::log::kafka::{KafkaConfig, KafkaLog, TestBroker, header::VERSION_HEADER};
use strata_common::log::{Log, LogReader, LogRecord};
use strata_common::{Error, ErrorKind};

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
