//! The wrappers against a real EAL: mempool, mbufs, bursts, ring ports,
//! lcore launch. One EAL per test binary, so this is a single test.

use std::rc::Rc;

use mediafwd_ffi::{eal, ring, Burst, Eal, Mempool, Port, PortConfig, Ring, TableArray};

#[test]
fn ring_port_round_trip_and_lcore_launch() {
    let prefix = format!("--file-prefix=mfw-ffi-{}", std::process::id());
    let eal =
        Eal::init(&["--no-huge", "-m", "256", "--no-shconf", "--no-pci", "-l", "0,1", "--log-level=error", &prefix])
            .expect("EAL starts without hugepages");
    assert!(eal::version().contains("22.11"), "{}", eal::version());
    assert!(Eal::init(&["-l", "0"]).err().map(|e| e.to_string()).is_some());
    assert!(eal::tsc_hz() > 0);
    assert_eq!(eal.worker_lcores(), vec![1]);
    dpdk_arrays_own_their_elements();

    let pool = Mempool::create("ffi_test_pool", 1023, 32, 2176, -1).unwrap();
    let to_port = Ring::create("ffi_rx", 256, -1, ring::flags::SP_ENQ | ring::flags::SC_DEQ).unwrap();
    let from_port = Ring::create("ffi_tx", 256, -1, ring::flags::SP_ENQ | ring::flags::SC_DEQ).unwrap();
    let port =
        Port::from_rings("ffi_ring0", std::slice::from_ref(&to_port), std::slice::from_ref(&from_port), 0).unwrap();
    assert!(port.name().ends_with("ffi_ring0"), "{}", port.name());
    assert_eq!(Port::by_name(&port.name()).unwrap(), port);
    assert!(Port::by_name("no_such_port").is_err());
    for (conf, refused) in [
        (PortConfig { rx_queues: 0, ..PortConfig::default() }, "invalid rx queues: 0 requested"),
        (PortConfig { tx_queues: 2, ..PortConfig::default() }, "invalid tx queues: 2 requested"),
    ] {
        let e = port.configure(&conf, &pool).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.starts_with(refused) && e.contains("offers 1..=1"), "{e}");
    }
    let (info, mut rxq, mut txq) = port.configure(&PortConfig::default(), &pool).unwrap();
    assert_eq!(info.driver, "net_ring");
    port.start().unwrap();

    // Inject 40 packets: more than a burst, so rx needs two calls.
    let mut injected = Burst::new();
    for i in 0..40u8 {
        let mut m = pool.alloc().unwrap();
        m.extend_from_slice(&[i; 60]).unwrap();
        assert_eq!(m.data_len(), 60);
        if let Err(m) = injected.push(m) {
            assert_eq!(to_port.enqueue(m).map_err(|_| ()), Ok(()));
        }
    }
    assert_eq!(to_port.enqueue_burst(&mut injected), 32);
    assert_eq!(to_port.count(), 40);

    let mut seen = Vec::new();
    for _ in 0..2 {
        let mut b = Burst::new();
        rxq[0].rx_burst(&mut b);
        for m in b.drain() {
            seen.push(m.data()[0]);
        }
    }
    assert_eq!(seen.len(), 40);

    // Transmit: packets come out of the TX ring, rewritten in place.
    let mut out = Burst::new();
    for _ in 0..3 {
        let mut m = pool.alloc().unwrap();
        m.extend_from_slice(&[7; 100]).unwrap();
        m.data_mut()[0] = 9;
        out.push(m).map_err(|_| ()).unwrap();
    }
    assert_eq!(txq[0].tx_burst(&mut out), 3);
    assert!(out.is_empty());
    let mut back = Burst::new();
    assert_eq!(from_port.dequeue_burst(&mut back), 3);
    assert_eq!(back.get(0).data()[..2], [9, 7]);

    // Data window moves (prepend 20 bytes of headroom, trim 4 at the end).
    let m = back.get_mut(1);
    let (buf, off, len) = m.buffer_mut();
    assert!(off >= 20 && buf.len() >= off + len);
    m.set_data_window(off - 20, len + 16).unwrap();
    assert_eq!(m.data_len(), 116);
    assert!(m.set_data_window(0, 1 << 15).is_err());
    back.free_all();

    // An lcore job runs pinned on lcore 1 with its own lcore id.
    eal.launch(1, || eal::current_lcore().map_or(-1, |id| id as i32)).unwrap();
    assert_eq!(eal.wait(1), 1);
    assert_eq!(eal::current_lcore(), Some(0));

    drop(b_leftovers(&mut rxq[0]));
    port.stop().unwrap();
    // Every buffer went back to the pool.
    assert_eq!(pool.in_use(), 0, "mbuf leak");
    let xs = port.xstats().unwrap();
    let _ = xs;
    let stats = port.stats().unwrap();
    assert_eq!(stats.rx_packets, 40);
    assert_eq!(stats.tx_packets, 3);
}

fn b_leftovers(q: &mut mediafwd_ffi::RxQueue) -> Burst {
    let mut b = Burst::new();
    q.rx_burst(&mut b);
    assert!(b.is_empty());
    b
}

/// DPDK arrays: elements initialised in order, written through `DerefMut`,
/// cloned on the same socket, dropped exactly once; a request larger than
/// the EAL's memory is an error, not a crash.
fn dpdk_arrays_own_their_elements() {
    let live = Rc::new(());
    {
        let mut a = TableArray::from_fn(1000, -1, |i| (i as u64, live.clone())).expect("1000 elements in 256 MiB");
        assert_eq!((a.len(), a.bytes(), a.socket()), (1000, 1000 * 16, Some(-1)));
        assert!(a.iter().enumerate().all(|(i, v)| v.0 == i as u64));
        assert_eq!(a.as_ptr() as usize % 64, 0);
        a[7].0 = 70;
        let b = a.clone();
        assert_eq!((b[7].0, b[8].0), (70, 8));
        assert_eq!(Rc::strong_count(&live), 2001);
    }
    assert_eq!(Rc::strong_count(&live), 1);
    let e = TableArray::from_fn(1 << 30, -1, |_| 0u64).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(e.contains("rte_malloc_socket") && e.contains("8589934592 bytes"), "{e}");
    assert!(TableArray::<u8>::from_fn(0, -1, |_| 0).unwrap().is_empty());
}
