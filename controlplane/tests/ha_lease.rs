//! The group's lease against a real redis-server: one holder at a time,
//! claims take higher epochs, a renewal by a node that lost the lease fails,
//! an unrenewed lease expires.

#[path = "common/redis.rs"]
mod redis_server;

use std::time::Duration;

use mediafwd_controlplane::ha::lease::{Holder, Lease, Renewal};
use mediafwd_controlplane::ha::store::{self, Keys};
use redis_server::RedisServer;

#[test]
fn one_holder_higher_epochs_fenced_renewals_and_expiry() {
    let redis = RedisServer::start();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let keys = Keys::new("lease");
        let ttl = Duration::from_millis(300);
        let (a, b) = (Lease::new(&keys, "node-a", ttl), Lease::new(&keys, "node-b", ttl));
        let mut con = store::connect(&redis.url()).await.unwrap();
        let holder = |epoch, node: &str| Holder { epoch, node: node.into() };

        assert_eq!(a.holder(&mut con).await.unwrap(), None);
        let a1 = a.claim(&mut con, false).await.unwrap().unwrap();
        assert_eq!(a1, holder(1, "node-a"));
        // B finds A's lease and does not take it.
        assert_eq!(b.claim(&mut con, false).await.unwrap(), Err(a1.clone()));
        // A renews it for longer than its first lease time.
        for _ in 0..5 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            assert_eq!(a.renew(&mut con, &a1).await.unwrap(), Renewal::Renewed);
        }
        let pttl: i64 = redis::cmd("PTTL").arg(keys.lease()).query_async(&mut con).await.unwrap();
        assert!(pttl > 200 && pttl <= 300, "{pttl}");

        // A takeover: B forces a claim, with a higher epoch; A's next renewal fails.
        let b2 = b.claim(&mut con, true).await.unwrap().unwrap();
        assert_eq!(b2, holder(2, "node-b"));
        assert_eq!(a.renew(&mut con, &a1).await.unwrap(), Renewal::Lost(Some(b2.clone())));
        assert_eq!(a.holder(&mut con).await.unwrap(), Some(b2.clone()));

        // B stops renewing: the lease expires, A claims it with epoch 3.
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(b.renew(&mut con, &b2).await.unwrap(), Renewal::Lost(None));
        assert_eq!(a.holder(&mut con).await.unwrap(), None);
        let a3 = a.claim(&mut con, false).await.unwrap().unwrap();
        assert_eq!(a3, holder(3, "node-a"));
        // A node claiming the lease it holds (restarted in place) takes a new epoch.
        assert_eq!(a.claim(&mut con, false).await.unwrap(), Ok(holder(4, "node-a")));
        assert_eq!(a.renew(&mut con, &a3).await.unwrap(), Renewal::Lost(Some(holder(4, "node-a"))));
    });
}
