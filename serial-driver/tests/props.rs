//! Property tests: the keypad state machine keeps the spec's invariants under any sequence of
//! presses, writes and clock steps; the master finds a valid response behind any garbage.
use std::time::Duration;

use faccia_serial::regs::{holding, input};
use faccia_serial::rtu;
use faccia_serial::sim::{Fk3, Key};
use faccia_serial::{Face, KeypadError, Master};
use proptest::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Debug, Clone)]
enum Op {
    Press(Key),
    Arm(u32, u16, u16),
    Ack(u16),
    Disarm,
    Reboot,
    Wait(u64),
    Raw(Vec<u8>),
}

fn key() -> impl Strategy<Value = Key> {
    prop_oneof![
        Just(Key::Face(Face::Green)),
        Just(Key::Face(Face::Yellow)),
        Just(Key::Face(Face::Red)),
        (1u8..=4).prop_map(Key::Reason),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => key().prop_map(Op::Press),
        2 => (0u32..4, 0u16..700, 0u16..70).prop_map(|(t, w, r)| Op::Arm(t, w, r)),
        2 => (0u16..4).prop_map(Op::Ack),
        1 => Just(Op::Disarm),
        1 => Just(Op::Reboot),
        2 => (0u64..20_000).prop_map(Op::Wait),
        1 => proptest::collection::vec(any::<u8>(), 0..12).prop_map(Op::Raw),
    ]
}

fn regs(k: &mut Fk3, now: u64) -> Vec<u16> {
    (0..input::COUNT)
        .map(|a| k.input_reg(a, now).unwrap_or(0xFFFF))
        .collect()
}

proptest! {
    #[test]
    fn keypad_invariants(ops in proptest::collection::vec(op(), 1..60)) {
        let mut k = Fk3::new(1, 42, 0);
        let mut now = 0u64;
        for op in ops {
            let before = regs(&mut k, now);
            match op {
                Op::Press(key) => { k.press(key, now); }
                Op::Arm(t, w, r) => {
                    let res = k.write(holding::ARM_TOKEN_HI, &[(t >> 16) as u16, t as u16, w, r, 0, 1], now);
                    let busy = before[2] == 2 || before[2] == 3;
                    let bad = t == 0 || !(5..=600).contains(&w) || r > 60;
                    if bad { prop_assert_eq!(res, Err(0x03)); }
                    else if busy { prop_assert_eq!(res, Err(0x06)); }
                    else { prop_assert_eq!(res, Ok(false)); }
                    if res.is_err() { prop_assert_eq!(&regs(&mut k, now)[..9], &before[..9]); }
                }
                Op::Ack(seq) => {
                    let res = k.write(holding::ACK_SEQ, &[seq, 3], now);
                    prop_assert_eq!(res.is_ok(), before[2] == 3 && before[5] == seq);
                }
                Op::Disarm => {
                    let res = k.write(holding::COMMAND, &[2], now);
                    prop_assert_eq!(res.is_err(), before[2] == 3);
                }
                Op::Reboot => k.reboot(now),
                Op::Wait(ms) => now += ms,
                Op::Raw(pdu) => { let _ = k.handle_pdu(&pdu, now); }
            }
            let r = regs(&mut k, now);
            let (state, token, face, reason, window) = (r[2], (u32::from(r[3]) << 16) | u32::from(r[4]), r[6], r[7], r[8]);
            prop_assert_eq!(r[0], 0xFACE);
            prop_assert!(state <= 3);
            prop_assert_eq!(state == 0, token == 0, "token is 0 exactly when IDLE");
            prop_assert_eq!(state == 3, face != 0, "a face only when LATCHED");
            prop_assert!(face <= 3 && reason <= 4);
            prop_assert!(reason == 0 || face == 3, "reason only with red");
            prop_assert_eq!(window > 0, state == 1 || state == 2);
            prop_assert!(window <= 600);
            // a latch moves VOTE_SEQ by exactly one
            if before[2] != 3 && state == 3 {
                prop_assert_eq!(r[5], before[5].wrapping_add(1));
            }
        }
    }
}

/// Master over an in-memory pipe; the "slave" side answers with `prefix ++ response`.
async fn exchange_with(
    prefix: Vec<u8>,
    corrupt: bool,
) -> (Result<Vec<u16>, KeypadError>, faccia_serial::LinkStats) {
    let (a, mut b) = tokio::io::duplex(1024);
    let mut m = Master::new(a, 19200, Duration::from_millis(30));
    m.set_inter_frame_gap(Duration::ZERO);
    let slave = tokio::spawn(async move {
        let mut req = [0u8; 8];
        if b.read_exact(&mut req).await.is_err() {
            return;
        }
        let mut k = Fk3::new(1, 7, 0);
        let reply = k.handle_pdu(&req[1..6], 0);
        let mut out = prefix;
        let mut f = rtu::frame(1, &reply.pdu);
        if corrupt {
            let n = f.len();
            f[n - 1] ^= 0xFF;
        }
        out.extend_from_slice(&f);
        let _ = b.write_all(&out).await;
        // keep the pipe open until the master is done
        tokio::time::sleep(Duration::from_secs(5)).await;
    });
    let r = m.read_input(1, 0, 17).await;
    slave.abort();
    (r, m.stats())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn master_skips_garbage_before_a_response(prefix in proptest::collection::vec(any::<u8>(), 0..40)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let n = prefix.len();
        let (r, st) = rt.block_on(exchange_with(prefix, false));
        let v = r.expect("valid response found behind garbage");
        prop_assert_eq!(v[0], 0xFACE);
        prop_assert_eq!(v[16], 7);
        if n > 0 {
            prop_assert!(st.framing_errors >= 1);
        }
    }

    #[test]
    fn master_reports_bad_crc_or_framing(prefix in proptest::collection::vec(any::<u8>(), 0..10)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let (r, st) = rt.block_on(exchange_with(prefix, true));
        prop_assert!(matches!(r, Err(KeypadError::Crc) | Err(KeypadError::Framing(_))), "{:?}", r);
        prop_assert_eq!(st.crc_errors + st.framing_errors, 1);
    }
}
