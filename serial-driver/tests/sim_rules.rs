//! Every rule of the spec, master (this crate) against simulator over a real pty.
mod common;

use std::time::Duration;

use faccia_serial::regs::{holding, input};
use faccia_serial::sim::Key;
use faccia_serial::{Face, KeypadError, KeypadState};

#[tokio::test]
async fn identify_full_block() {
    let env = common::sim(vec![1, 2], 19200, false).await;
    let mut m = common::master(&env, 19200);
    let info = m.identify(2).await.expect("identify");
    assert_eq!(info.ident, 0xFACE);
    assert_eq!(info.firmware, (1, 3));
    assert_eq!(info.status.state, KeypadState::Idle);
    assert_eq!(info.status.token, 0);
    assert_eq!(info.counters.boot_count, 1);
    assert_eq!(info.serial_no, 0x00F0_0002);
    let cfg = m.config(2).await.expect("config");
    assert_eq!((cfg.unit_id, cfg.baud_code), (2, 1));
    // unknown unit: silence
    assert!(matches!(m.status(9).await, Err(KeypadError::Timeout)));
    // illegal address, illegal function
    assert!(matches!(
        m.read_input(1, 0x0010, 2).await,
        Err(KeypadError::IllegalAddress)
    ));
    assert!(matches!(
        m.read_holding(1, input::IDENT, 1).await,
        Err(KeypadError::IllegalAddress)
    ));
    assert!(matches!(
        m.transact(1, &[0x05, 0, 0, 0xFF, 0]).await,
        Err(KeypadError::IllegalFunction)
    ));
    // command reads back 0
    assert_eq!(
        m.read_holding(1, holding::COMMAND, 1).await.expect("read"),
        vec![0]
    );
    env.sim.shutdown().await;
}

#[tokio::test]
async fn arm_vote_ack_and_busy() {
    let env = common::sim(vec![3], 19200, false).await;
    let h = env.sim.handle();
    let mut m = common::master(&env, 19200);
    m.arm(3, 0xDEAD_BEEF, 30, 0).await.expect("arm");
    let s = m.status(3).await.expect("status");
    assert_eq!(
        (s.state, s.token, s.window_left_s),
        (KeypadState::Armed, 0xDEAD_BEEF, 30)
    );
    assert!(h.press(3, Key::Face(Face::Yellow)).expect("press"));
    assert!(!h.press(3, Key::Face(Face::Green)).expect("press"));
    let s = m.status(3).await.expect("status");
    assert_eq!(s.state, KeypadState::Latched);
    assert_eq!((s.vote_seq, s.face, s.reason), (1, Some(Face::Yellow), 0));
    // busy while latched
    assert!(matches!(m.arm(3, 5, 30, 0).await, Err(KeypadError::Busy)));
    assert!(matches!(m.disarm(3).await, Err(KeypadError::Busy)));
    // the refused ARM changed nothing
    assert_eq!(m.status(3).await.expect("status").token, 0xDEAD_BEEF);
    // ACK with a wrong sequence
    assert!(matches!(m.ack(3, 2).await, Err(KeypadError::BadValue)));
    assert_eq!(
        m.status(3).await.expect("status").state,
        KeypadState::Latched
    );
    m.ack(3, 1).await.expect("ack");
    let s = m.status(3).await.expect("status");
    assert_eq!(
        (s.state, s.token, s.face, s.vote_seq),
        (KeypadState::Idle, 0, None, 1)
    );
    // ack again: nothing latched
    assert!(matches!(m.ack(3, 1).await, Err(KeypadError::BadValue)));
    let (_, c) = m.status_and_counters(3).await.expect("counters");
    assert_eq!((c.presses_total, c.presses_ignored), (2, 1));
    let votes = h.votes();
    assert_eq!(votes.len(), 2);
    assert_eq!(
        (votes[0].event, votes[0].token, votes[0].seq),
        ("latched", 0xDEAD_BEEF, 1)
    );
    assert_eq!(votes[1].event, "acked");
    let log = std::fs::read_to_string(env.dir.path().join("votes.jsonl")).expect("vote log");
    assert_eq!(log.lines().count(), 2);
    assert!(log.contains("\"face\":\"yellow\""));
    env.sim.shutdown().await;
}

#[tokio::test]
async fn rearm_replaces_session_and_bad_values() {
    let env = common::sim(vec![1], 19200, false).await;
    let h = env.sim.handle();
    let mut m = common::master(&env, 19200);
    m.arm(1, 100, 30, 0).await.expect("arm");
    m.arm(1, 200, 40, 0).await.expect("re-arm");
    let s = m.status(1).await.expect("status");
    assert_eq!(
        (s.state, s.token, s.window_left_s),
        (KeypadState::Armed, 200, 40)
    );
    h.press(1, Key::Face(Face::Green)).expect("press");
    let s = m.status(1).await.expect("status");
    assert_eq!((s.token, s.vote_seq), (200, 1));
    m.ack(1, 1).await.expect("ack");
    // DISARM ends an ARMED session with no vote; in IDLE it has no effect
    m.arm(1, 300, 30, 0).await.expect("arm");
    m.disarm(1).await.expect("disarm");
    let s = m.status(1).await.expect("status");
    assert_eq!((s.state, s.token, s.vote_seq), (KeypadState::Idle, 0, 1));
    m.disarm(1).await.expect("disarm in idle");
    // whole-write validation on the wire: window 4 s -> exception 0x03, nothing armed
    let r = m
        .write_multiple(1, holding::ARM_TOKEN_HI, &[0, 7, 4, 0, 0, 1])
        .await;
    assert!(matches!(r, Err(KeypadError::BadValue)));
    let r = m
        .write_multiple(1, holding::ARM_TOKEN_HI, &[0, 0, 30, 0, 0, 1])
        .await;
    assert!(matches!(r, Err(KeypadError::BadValue)), "token 0");
    assert_eq!(m.status(1).await.expect("status").state, KeypadState::Idle);
    assert_eq!(
        m.read_holding(1, holding::ARM_TOKEN_HI, 2)
            .await
            .expect("read"),
        vec![0, 300]
    );
    assert!(matches!(
        m.set_brightness(1, 101).await,
        Err(KeypadError::BadValue)
    ));
    m.set_brightness(1, 40).await.expect("brightness");
    assert_eq!(m.config(1).await.expect("cfg").brightness, 40);
    env.sim.shutdown().await;
}

#[tokio::test]
async fn reason_window_with_and_without_key() {
    let env = common::sim(vec![1], 19200, false).await;
    let h = env.sim.handle();
    let mut m = common::master(&env, 19200);
    // with a reason key
    m.arm(1, 11, 30, 10).await.expect("arm");
    h.press(1, Key::Face(Face::Red)).expect("press");
    let s = m.status(1).await.expect("status");
    assert_eq!((s.state, s.window_left_s), (KeypadState::Reason, 10));
    assert!(
        matches!(m.arm(1, 12, 30, 0).await, Err(KeypadError::Busy)),
        "busy in REASON"
    );
    h.press(1, Key::Reason(4)).expect("press");
    let s = m.status(1).await.expect("status");
    assert_eq!(
        (s.state, s.face, s.reason),
        (KeypadState::Latched, Some(Face::Red), 4)
    );
    m.ack(1, s.vote_seq).await.expect("ack");
    // without: the reason window (1 s) runs out
    m.arm(1, 13, 30, 1).await.expect("arm");
    h.press(1, Key::Face(Face::Red)).expect("press");
    assert_eq!(
        m.status(1).await.expect("status").state,
        KeypadState::Reason
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let s = m.status(1).await.expect("status");
    assert_eq!(
        (s.state, s.face, s.reason, s.token),
        (KeypadState::Latched, Some(Face::Red), 0, 13)
    );
    // red with REASON_WINDOW_S = 0 latches at once; disarm in REASON discards
    m.ack(1, s.vote_seq).await.expect("ack");
    m.arm(1, 14, 30, 0).await.expect("arm");
    h.press(1, Key::Face(Face::Red)).expect("press");
    assert_eq!(
        m.status(1).await.expect("status").state,
        KeypadState::Latched
    );
    env.sim.shutdown().await;
}

#[tokio::test]
async fn window_expires_and_ignored_presses() {
    let env = common::sim(vec![1], 19200, false).await;
    let h = env.sim.handle();
    let mut m = common::master(&env, 19200);
    h.press(1, Key::Face(Face::Green)).expect("press in idle");
    m.arm(1, 21, 5, 0).await.expect("arm");
    h.press(1, Key::Reason(1)).expect("reason key in ARMED");
    // let the window run out: 5 s would be long; use the injected clock through the state machine
    h.with_keypad(1, |k, now| {
        k.advance(now + 5_000);
        k.state(now + 5_000)
    })
    .expect("unit");
    let (s, c) = m.status_and_counters(1).await.expect("status");
    assert_eq!((s.state, s.token, s.vote_seq), (KeypadState::Idle, 0, 0));
    assert_eq!((c.presses_total, c.presses_ignored), (2, 2));
    env.sim.shutdown().await;
}

#[tokio::test]
async fn reboot_clears_votes_and_moves_boot_count() {
    let env = common::sim(vec![1], 19200, false).await;
    let h = env.sim.handle();
    let mut m = common::master(&env, 19200);
    m.arm(1, 31, 30, 0).await.expect("arm");
    h.press(1, Key::Face(Face::Green)).expect("press");
    assert_eq!(m.status(1).await.expect("s").state, KeypadState::Latched);
    m.reboot(1).await.expect("reboot answers first");
    let info = m.identify(1).await.expect("identify");
    assert_eq!(info.counters.boot_count, 2);
    assert_eq!(info.status.state, KeypadState::Idle);
    assert_eq!((info.status.vote_seq, info.status.token), (0, 0));
    assert_eq!(info.counters.presses_total, 0);
    // set unit id: write, save, reboot -> answers at the new id only
    m.set_unit_id(1, 9).await.expect("set id");
    m.save_config(1).await.expect("save");
    m.reboot(1).await.expect("reboot");
    assert!(matches!(m.status(1).await, Err(KeypadError::Timeout)));
    assert_eq!(m.identify(9).await.expect("new id").counters.boot_count, 3);
    env.sim.shutdown().await;
}

#[tokio::test]
async fn self_test_identify_and_faults() {
    let env = common::sim(vec![1], 19200, false).await;
    let h = env.sim.handle();
    let mut m = common::master(&env, 19200);
    m.arm(1, 41, 30, 0).await.expect("arm");
    h.command("fault 1 stuck yellow");
    m.self_test(1).await.expect("self test");
    m.identify_blink(1).await.expect("identify");
    let st = h.status();
    assert!(st[0].identifying && st[0].self_testing);
    let info = m.identify(1).await.expect("info");
    assert_eq!(
        info.counters.faults,
        faccia_serial::regs::faults::YELLOW_STUCK
    );
    assert_eq!(
        info.status.state,
        KeypadState::Armed,
        "voting state unchanged"
    );
    env.sim.shutdown().await;
}

#[tokio::test]
async fn garbage_and_truncated_frames_are_survived() {
    let env = common::sim(vec![1], 19200, false).await;
    let h = env.sim.handle();
    let mut m = common::master(&env, 19200);
    // keypad answers garbage: counted as framing error, then recovers
    h.set_fault(1, faccia_serial::sim::Fault::Garbage)
        .expect("fault");
    assert!(m.status(1).await.is_err());
    h.set_fault(1, faccia_serial::sim::Fault::BadCrc)
        .expect("fault");
    assert!(matches!(m.status(1).await, Err(KeypadError::Crc)));
    h.set_fault(1, faccia_serial::sim::Fault::Ok)
        .expect("fault");
    let st = m.stats();
    assert_eq!(st.crc_errors, 1);
    assert!(st.framing_errors + st.crc_errors >= 2, "{st:?}");
    // garbage and a truncated frame written by another master on the line, then a valid request
    {
        use std::io::Write;
        let mut raw = std::fs::OpenOptions::new()
            .write(true)
            .open(&env.link)
            .expect("open");
        raw.write_all(&[0x55, 0xAA, 0x01, 0x04, 0x00])
            .expect("write");
        raw.write_all(&[0x01, 0x04, 0x00, 0x02, 0x00])
            .expect("truncated");
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    let s = m.status(1).await.expect("survives");
    assert_eq!(s.state, KeypadState::Idle);
    assert!(env.sim.handle().stats().garbage_bytes >= 10);
    env.sim.shutdown().await;
}
