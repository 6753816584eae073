//! Counting, histograms and the exposition text, without a server.

use super::*;
use crate::protocol::{ContainerVerb, Family, Op, Verb};

#[test]
fn requests_are_counted_by_command_and_status() {
    let mut m = Metrics::default();
    m.count(Some(Verb::KvGet.into()), Status::Ok);
    m.count(Some(Verb::KvGet.into()), Status::Ok);
    m.count(Some(Verb::KvSet.into()), Status::NotPermitted);
    m.count(None, Status::JsonInvalid);
    assert_eq!(m.requests(Some(Verb::KvGet.into()), Status::Ok), 2);
    assert_eq!(m.requests(Some(Verb::KvSet.into()), Status::NotPermitted), 1);
    assert_eq!(m.requests(None, Status::JsonInvalid), 1);
    assert_eq!(m.requests(Some(Verb::KvGet.into()), Status::KeyNotExist), 0);
    assert_eq!(m.requests_total(), 4);
    assert_eq!(m.latency().count(), 0, "observed at the end of the turn");
    m.observe_turn(Duration::from_micros(300));
    m.observe_turn(Duration::from_secs(1));
    assert_eq!(m.latency().count(), 4);
    assert_eq!(m.latency().sum(), Duration::from_micros(1200));
    m.count_later(Some(Verb::KvSave.into()), Status::SaveComplete, Duration::from_millis(40));
    assert_eq!(m.latency().count(), 5);
}

#[test]
fn array_and_list_commands_are_counted_and_named_by_their_own_name() {
    let mut m = Metrics::default();
    let set_rng = CommandName::Container(ContainerVerb { family: Family::Iarr, op: Op::SetRng });
    let olst_add = CommandName::Container(ContainerVerb { family: Family::Olst, op: Op::Add });
    let delete_all = CommandName::Container(ContainerVerb { family: Family::Sstrarr, op: Op::DeleteAll });
    m.count(Some(set_rng), Status::Ok);
    m.count(Some(set_rng), Status::Bounds);
    m.count(Some(olst_add), Status::NotPermitted);
    m.count_later(Some(delete_all), Status::NotPermitted, Duration::from_millis(1));
    m.count(Some(Verb::KvSet.into()), Status::Ok);
    assert_eq!(m.requests(Some(set_rng), Status::Ok), 1);
    assert_eq!(m.requests(Some(set_rng), Status::Bounds), 1);
    assert_eq!(m.requests(Some(olst_add), Status::Ok), 0);
    assert_eq!(m.requests(Some(Verb::KvSet.into()), Status::Bounds), 0);
    assert_eq!(m.requests_total(), 5);
    let mut text = String::new();
    m.render(&State::default(), &mut text);
    for line in [
        "ndb_requests_total{command=\"IARR_SET_RNG\",status=\"Ok\"} 1\n",
        "ndb_requests_total{command=\"IARR_SET_RNG\",status=\"Bounds\"} 1\n",
        "ndb_requests_total{command=\"OLST_ADD\",status=\"NotPermitted\"} 1\n",
        "ndb_requests_total{command=\"SSTRARR_DELETE_ALL\",status=\"NotPermitted\"} 1\n",
        "ndb_requests_total{command=\"KV_SET\",status=\"Ok\"} 1\n",
        "ndb_request_errors_total{command=\"IARR_SET_RNG\"} 1\n",
        "ndb_request_errors_total{command=\"OLST_ADD\"} 1\n",
    ] {
        assert!(text.contains(line), "{line}in\n{text}");
    }
    assert!(!text.contains("command=\"KV_SET\",status=\"Bounds\""), "{text}");
}

#[test]
fn histogram_buckets_are_cumulative_and_bounds_inclusive() {
    static BOUNDS: [Duration; 2] = [Duration::from_millis(1), Duration::from_millis(10)];
    let mut h = Histogram::new(&BOUNDS);
    h.observe(Duration::ZERO);
    h.observe(Duration::from_millis(1));
    h.observe_n(Duration::from_millis(5), 3);
    h.observe(Duration::from_secs(60));
    let buckets: Vec<_> = h.cumulative().collect();
    assert_eq!(buckets, [(Some(BOUNDS[0]), 2), (Some(BOUNDS[1]), 5), (None, 6)]);
    assert_eq!(h.count(), 6);
    assert_eq!(h.sum(), Duration::from_millis(60_016));
}

#[test]
fn seconds_are_written_short_and_exact() {
    assert_eq!(seconds(Duration::from_micros(100)), "0.0001");
    assert_eq!(seconds(Duration::from_millis(2500)), "2.5");
    assert_eq!(seconds(Duration::from_secs(10)), "10");
    assert_eq!(seconds(Duration::ZERO), "0");
}

#[test]
fn the_text_has_a_help_and_type_line_before_each_family() {
    let mut m = Metrics::default();
    m.count(Some(Verb::KvGet.into()), Status::Ok);
    m.count(Some(Verb::KvGet.into()), Status::KeyNotExist);
    m.count(None, Status::CommandNotExist);
    m.observe_turn(Duration::from_micros(50));
    m.record_save(SaveKind::Kv, Ok(Duration::from_millis(3)));
    m.record_save(SaveKind::Sessions, Err(()));
    m.add_io(10, 20);
    let state = State { protocol: "0.7", serving: true, keys: 3, memory_bytes: Some(4096), ..State::default() };
    let mut text = String::new();
    m.render(&state, &mut text);
    for line in [
        "ndb_requests_total{command=\"KV_GET\",status=\"Ok\"} 1\n",
        "ndb_requests_total{command=\"KV_GET\",status=\"KeyNotExist\"} 1\n",
        "ndb_requests_total{command=\"unknown\",status=\"CommandNotExist\"} 1\n",
        "ndb_request_errors_total{command=\"KV_GET\"} 1\n",
        "ndb_request_duration_seconds_bucket{le=\"0.0001\"} 3\n",
        "ndb_request_duration_seconds_bucket{le=\"+Inf\"} 3\n",
        "ndb_request_duration_seconds_count 3\n",
        "ndb_saves_total{kind=\"kv\",result=\"ok\"} 1\n",
        "ndb_saves_total{kind=\"sessions\",result=\"error\"} 1\n",
        "ndb_save_duration_seconds_bucket{le=\"0.001\"} 0\n",
        "ndb_save_duration_seconds_bucket{le=\"0.01\"} 1\n",
        "ndb_keys 3\n",
        "ndb_up 1\n",
        "ndb_memory_used_bytes 4096\n",
        "ndb_received_bytes_total 10\n",
        "ndb_sent_bytes_total 20\n",
    ] {
        assert!(text.contains(line), "{line}in\n{text}");
    }
    // Every sample belongs to the family declared just before it.
    let mut family = String::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            family = rest.split(' ').next().unwrap().to_owned();
        } else if !line.starts_with('#') {
            assert!(line.starts_with(&family), "{line} after # TYPE {family}");
        }
    }
}
