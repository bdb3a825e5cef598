use pretty_assertions::assert_eq;
use x86wow_syscalls::consts::*;
use x86wow_syscalls::{NtStatus, DEFAULT_CLOCK_START, KUSER_SHARED_DATA};

use crate::common::Env;

fn state(e: &mut Env, h: u64) -> u32 {
    let buf = e.alloc(8);
    assert_eq!(e.k.nt_query_event(&mut e.mem, h, 0, buf, 8, 0), NtStatus::SUCCESS);
    e.rd32(buf + 4)
}

fn wait(e: &mut Env, h: u64, timeout: Option<i64>) -> NtStatus {
    let t = timeout.map(|t| e.u64_cell(t as u64)).unwrap_or(0);
    e.k.nt_wait_for_single_object(&mut e.mem, h, 0, t)
}

#[test]
fn waiting_on_a_synchronization_event_resets_it() {
    let mut e = Env::new();
    let (_, h) = e.create_event(None, 0, false, true);
    assert_eq!(wait(&mut e, h, None), NtStatus::WAIT_0);
    assert_eq!(state(&mut e, h), 0);
}

#[test]
fn waiting_on_a_notification_event_leaves_it_signaled() {
    let mut e = Env::new();
    let (_, h) = e.create_event(None, 0, true, true);
    assert_eq!(wait(&mut e, h, None), NtStatus::WAIT_0);
    assert_eq!(state(&mut e, h), 1);
}

#[test]
fn set_reset_pulse_return_the_previous_state() {
    let mut e = Env::new();
    let (_, h) = e.create_event(None, 0, true, false);
    let prev = e.u32_cell(0xFF);
    assert_eq!(e.k.nt_set_event(&mut e.mem, h, prev), NtStatus::SUCCESS);
    assert_eq!(e.rd32(prev), 0);
    assert_eq!(e.k.nt_pulse_event(&mut e.mem, h, prev), NtStatus::SUCCESS);
    assert_eq!((e.rd32(prev), state(&mut e, h)), (1, 0));
    e.k.nt_set_event(&mut e.mem, h, 0);
    assert_eq!(e.k.nt_reset_event(&mut e.mem, h, prev), NtStatus::SUCCESS);
    assert_eq!((e.rd32(prev), state(&mut e, h)), (1, 0));
    assert_eq!(e.k.nt_clear_event(&mut e.mem, h), NtStatus::SUCCESS);
}

#[test]
fn query_event_writes_type_and_state() {
    let mut e = Env::new();
    let (_, h) = e.create_event(None, 0, false, true);
    let buf = e.alloc(8);
    let rl = e.u32_cell(0);
    assert_eq!(e.k.nt_query_event(&mut e.mem, h, 0, buf, 8, rl), NtStatus::SUCCESS);
    assert_eq!((e.bytes(buf, 8), e.rd32(rl)), (vec![1, 0, 0, 0, 1, 0, 0, 0], 8));
    assert_eq!(e.k.nt_query_event(&mut e.mem, h, 0, buf, 4, rl), NtStatus::INFO_LENGTH_MISMATCH);
    assert_eq!(e.k.nt_query_event(&mut e.mem, h, 1, buf, 8, rl), NtStatus::INVALID_INFO_CLASS);
}

#[test]
fn unsatisfiable_wait_with_relative_timeout_advances_the_clock() {
    let mut e = Env::new();
    let (_, h) = e.create_event(None, 0, true, false);
    let t0 = e.k.clock().system_time();
    assert_eq!(wait(&mut e, h, Some(-5_000_000)), NtStatus::TIMEOUT);
    assert_eq!(e.k.clock().system_time(), t0 + 5_000_000);
    assert_eq!(wait(&mut e, h, Some(0)), NtStatus::TIMEOUT);
    assert_eq!(e.k.clock().system_time(), t0 + 5_000_000);
}

#[test]
fn unsatisfiable_wait_with_absolute_timeout_runs_to_that_time() {
    let mut e = Env::new();
    let (_, h) = e.create_event(None, 0, true, false);
    let at = (DEFAULT_CLOCK_START + 123_456_789) as i64;
    assert_eq!(wait(&mut e, h, Some(at)), NtStatus::TIMEOUT);
    assert_eq!(e.k.clock().system_time(), at as u64);
}

#[test]
fn unsatisfiable_infinite_wait_is_a_possible_deadlock() {
    let mut e = Env::new();
    let (_, h) = e.create_event(None, 0, true, false);
    assert_eq!(wait(&mut e, h, None), NtStatus::POSSIBLE_DEADLOCK);
}

#[test]
fn waits_need_synchronize_and_a_waitable_object() {
    let mut e = Env::new();
    let h = e.alloc(8);
    e.k.nt_create_event(&mut e.mem, h, EVENT_MODIFY_STATE as u64, 0, 0, 1);
    let ev = e.rd64(h);
    assert_eq!(wait(&mut e, ev, None), NtStatus::ACCESS_DENIED);
    let size = e.u64_cell(0x1000);
    e.k.nt_create_section(&mut e.mem, h, 0x1F001F, 0, size, PAGE_READWRITE as u64, SEC_COMMIT as u64, 0);
    let sec = e.rd64(h);
    assert_eq!(wait(&mut e, sec, None), NtStatus::OBJECT_TYPE_MISMATCH);
    assert_eq!(wait(&mut e, 0x1234, None), NtStatus::INVALID_HANDLE);
}

#[test]
fn mutant_ownership_and_release_counts() {
    let mut e = Env::new();
    let h = e.alloc(8);
    assert_eq!(e.k.nt_create_mutant(&mut e.mem, h, 0x1F0001, 0, 1), NtStatus::SUCCESS);
    let m = e.rd64(h);
    assert_eq!(wait(&mut e, m, None), NtStatus::WAIT_0, "recursive acquire");
    let prev = e.u32_cell(0xFF);
    assert_eq!(e.k.nt_release_mutant(&mut e.mem, m, prev), NtStatus::SUCCESS);
    assert_eq!(e.rd32(prev) as i32, -1);
    assert_eq!(e.k.nt_release_mutant(&mut e.mem, m, prev), NtStatus::SUCCESS);
    assert_eq!(e.rd32(prev), 0);
    assert_eq!(e.k.nt_release_mutant(&mut e.mem, m, prev), NtStatus::MUTANT_NOT_OWNED);
    let buf = e.alloc(8);
    assert_eq!(e.k.nt_query_mutant(&mut e.mem, m, 0, buf, 8, 0), NtStatus::SUCCESS);
    assert_eq!(e.bytes(buf, 6), vec![1, 0, 0, 0, 0, 0]);
}

#[test]
fn semaphore_counts_and_limit() {
    let mut e = Env::new();
    let h = e.alloc(8);
    assert_eq!(e.k.nt_create_semaphore(&mut e.mem, h, 0x1F0003, 0, 1, 2), NtStatus::SUCCESS);
    let s = e.rd64(h);
    let prev = e.u32_cell(0xFF);
    assert_eq!(e.k.nt_release_semaphore(&mut e.mem, s, 1, prev), NtStatus::SUCCESS);
    assert_eq!(e.rd32(prev), 1);
    assert_eq!(e.k.nt_release_semaphore(&mut e.mem, s, 1, prev), NtStatus::SEMAPHORE_LIMIT_EXCEEDED);
    assert_eq!(wait(&mut e, s, None), NtStatus::WAIT_0);
    assert_eq!(wait(&mut e, s, None), NtStatus::WAIT_0);
    assert_eq!(wait(&mut e, s, Some(0)), NtStatus::TIMEOUT);
    let buf = e.alloc(8);
    assert_eq!(e.k.nt_query_semaphore(&mut e.mem, s, 0, buf, 8, 0), NtStatus::SUCCESS);
    assert_eq!((e.rd32(buf), e.rd32(buf + 4)), (0, 2));
    assert_eq!(e.k.nt_release_semaphore(&mut e.mem, s, 0, 0), NtStatus::INVALID_PARAMETER);
}

#[test]
fn semaphore_creation_checks_counts() {
    let mut e = Env::new();
    let h = e.alloc(8);
    assert_eq!(e.k.nt_create_semaphore(&mut e.mem, h, 0x1F0003, 0, 3, 2), NtStatus::INVALID_PARAMETER);
    assert_eq!(e.k.nt_create_semaphore(&mut e.mem, h, 0x1F0003, 0, 0, 0), NtStatus::INVALID_PARAMETER);
    assert_eq!(
        e.k.nt_create_semaphore(&mut e.mem, h, 0x1F0003, 0, 0xFFFF_FFFF, 2),
        NtStatus::INVALID_PARAMETER
    );
}

#[test]
fn wait_any_returns_the_first_signaled_index() {
    let mut e = Env::new();
    let (_, a) = e.create_event(None, 0, false, false);
    let (_, b) = e.create_event(None, 0, false, true);
    let arr = e.put(&[a.to_le_bytes(), b.to_le_bytes()].concat());
    assert_eq!(e.k.nt_wait_for_multiple_objects(&mut e.mem, 2, arr, 1, 0, 0), NtStatus::WAIT_1);
    assert_eq!(state(&mut e, b), 0);
}

#[test]
fn wait_all_needs_every_object_and_refuses_duplicates() {
    let mut e = Env::new();
    let (_, a) = e.create_event(None, 0, false, true);
    let (_, b) = e.create_event(None, 0, false, false);
    let arr = e.put(&[a.to_le_bytes(), b.to_le_bytes()].concat());
    let t = e.u64_cell(-10i64 as u64);
    assert_eq!(e.k.nt_wait_for_multiple_objects(&mut e.mem, 2, arr, 0, 0, t), NtStatus::TIMEOUT);
    assert_eq!(state(&mut e, a), 1, "nothing consumed");
    e.k.nt_set_event(&mut e.mem, b, 0);
    assert_eq!(e.k.nt_wait_for_multiple_objects(&mut e.mem, 2, arr, 0, 0, 0), NtStatus::WAIT_0);
    assert_eq!((state(&mut e, a), state(&mut e, b)), (0, 0));
    let dup = e.put(&[a.to_le_bytes(), a.to_le_bytes()].concat());
    assert_eq!(
        e.k.nt_wait_for_multiple_objects(&mut e.mem, 2, dup, 0, 0, 0),
        NtStatus::INVALID_PARAMETER_MIX
    );
    assert_eq!(e.k.nt_wait_for_multiple_objects(&mut e.mem, 0, dup, 0, 0, 0), NtStatus::INVALID_PARAMETER_1);
    assert_eq!(e.k.nt_wait_for_multiple_objects(&mut e.mem, 65, dup, 0, 0, 0), NtStatus::INVALID_PARAMETER_1);
    assert_eq!(e.k.nt_wait_for_multiple_objects(&mut e.mem, 2, dup, 2, 0, 0), NtStatus::INVALID_PARAMETER_3);
}

#[test]
fn delay_execution_advances_the_clock_and_shared_data() {
    let mut e = Env::new();
    let d = e.u64_cell(-20_000_000i64 as u64);
    assert_eq!(e.k.nt_delay_execution(&mut e.mem, 0, d), NtStatus::SUCCESS);
    assert_eq!(e.k.clock().system_time(), DEFAULT_CLOCK_START + 20_000_000);
    let lo = e.rd32(KUSER_SHARED_DATA + 0x14) as u64;
    let hi = e.rd32(KUSER_SHARED_DATA + 0x18) as u64;
    assert_eq!(hi << 32 | lo, DEFAULT_CLOCK_START + 20_000_000);
    let inf = e.u64_cell(i64::MIN as u64);
    assert_eq!(e.k.nt_delay_execution(&mut e.mem, 0, inf), NtStatus::POSSIBLE_DEADLOCK);
}

#[test]
fn system_time_performance_counter_and_timer_resolution() {
    let mut e = Env::new();
    let t = e.alloc(8);
    assert_eq!(e.k.nt_query_system_time(&mut e.mem, t), NtStatus::SUCCESS);
    assert_eq!(e.rd64(t), DEFAULT_CLOCK_START);
    let c = e.alloc(8);
    let f = e.alloc(8);
    assert_eq!(e.k.nt_query_performance_counter(&mut e.mem, c, f), NtStatus::SUCCESS);
    assert_eq!(e.rd64(f), 10_000_000);
    let c0 = e.rd64(c);
    e.k.advance_clock(&mut e.mem, 1000);
    e.k.nt_query_performance_counter(&mut e.mem, c, 0);
    assert_eq!(e.rd64(c) - c0, 100, "1000 units at 1/10 = 100 x 100 ns");
    let (a, b, cur) = (e.alloc(4), e.alloc(4), e.alloc(4));
    assert_eq!(e.k.nt_query_timer_resolution(&mut e.mem, a, b, cur), NtStatus::SUCCESS);
    assert_eq!((e.rd32(a), e.rd32(b), e.rd32(cur)), (156_250, 5000, 156_250));
}

#[test]
fn yield_reports_no_yield() {
    let mut e = Env::new();
    assert_eq!(e.k.nt_yield_execution(&mut e.mem), NtStatus::NO_YIELD_PERFORMED);
}
