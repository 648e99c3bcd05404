//! Network faults between a client under test and a broker: [`FaultProxy`],
//! a TCP proxy on a loopback port whose faults are switched at run time
//! (reset every open connection, at once or when a reply is on its way;
//! stall all bytes; refuse new connections) and which counts what it did,
//! and [`ProxiedBroker`], a nisshi broker advertising the proxy's port so
//! that clients come back through the proxy after bootstrap.
//!
//! The proxy runs on its own thread with its own tokio runtime, so it keeps
//! forwarding while a test blocks (process start-up, librdkafka calls), and
//! it can be started and dropped from sync or async code.

use std::net::{SocketAddr, TcpListener as StdListener};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context;
use rdkafka::consumer::Consumer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{ReadHalf, WriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::broker::{probe_client, Broker, Storage, BROKER_READY_DEADLINE};
use crate::security::ClientSecurity;
use crate::wait::wait_until_blocking;

/// Size of the buffer of each direction of a connection: 64 KiB.
const BUFFER_BYTES: usize = 64 * 1024;

/// How long [`FaultProxy::start_on`] waits for its thread to listen: 10 s.
const START_DEADLINE: Duration = Duration::from_secs(10);

/// What a [`FaultProxy`] has done since it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FaultStats {
    /// Connections accepted, refused ones included.
    pub accepted: u64,
    /// Connections closed at once (reset) because refusing was on.
    pub refused: u64,
    /// Connections reset because no upstream was set yet or it did not
    /// accept.
    pub upstream_failed: u64,
    /// Connections reset by [`FaultProxy::reset_all`] or a lost reply
    /// (both sides).
    pub reset: u64,
    /// Kafka replies dropped by [`FaultProxy::lose_reply`].
    pub replies_lost: u64,
    /// Connections open now (forwarding or stalled).
    pub open: u64,
    /// Times a stall began (forwarding switched from on to off).
    pub stalls: u64,
    /// Requests held back on their connection by
    /// [`FaultProxy::hold_request`] (released or not).
    pub holds: u64,
    /// Bytes passed on to the upstream side (client to broker).
    pub bytes_to_upstream: u64,
    /// Bytes passed on to the client side (broker to client).
    pub bytes_to_client: u64,
    /// Produce requests (API key 0) passed on to the upstream side.
    pub produce_requests: u64,
    /// Size of the largest Produce request passed on since the proxy
    /// started (its size field: header and body, bytes), 0 before any.
    pub largest_produce_request: u64,
}

impl FaultStats {
    /// The counts since `earlier` (a snapshot of the same proxy); `open`
    /// stays the current one.
    pub fn since(&self, earlier: &FaultStats) -> FaultStats {
        FaultStats {
            accepted: self.accepted - earlier.accepted,
            refused: self.refused - earlier.refused,
            upstream_failed: self.upstream_failed - earlier.upstream_failed,
            reset: self.reset - earlier.reset,
            replies_lost: self.replies_lost - earlier.replies_lost,
            open: self.open,
            stalls: self.stalls - earlier.stalls,
            holds: self.holds - earlier.holds,
            bytes_to_upstream: self.bytes_to_upstream - earlier.bytes_to_upstream,
            bytes_to_client: self.bytes_to_client - earlier.bytes_to_client,
            produce_requests: self.produce_requests - earlier.produce_requests,
            largest_produce_request: self.largest_produce_request,
        }
    }
}

/// Counters and switches shared by the proxy's tasks and its handle.
#[derive(Debug)]
struct Shared {
    upstream: Mutex<Option<SocketAddr>>,
    refuse: AtomicBool,
    /// `true` while no byte is forwarded.
    stalled: watch::Sender<bool>,
    /// Bumped by each [`FaultProxy::reset_all`]; every connection open then resets.
    resets: watch::Sender<u64>,
    /// [`FaultProxy::lose_reply`]: the request whose reply is lost.
    lose: RequestTrigger,
    /// [`FaultProxy::stall_at_request`]: the request that starts a stall.
    stall_at: RequestTrigger,
    /// [`FaultProxy::hold_request`]: the request held on its connection.
    hold_at: RequestTrigger,
    /// Holds released so far: hold `k` (1-based, in the order they began)
    /// waits until this is at least `k`.
    released: watch::Sender<u64>,
    holds: AtomicU64,
    /// Bumped by [`FaultProxy::stall_for`] and [`FaultProxy::set_stalled`], so an
    /// older timed stall does not end a newer one.
    stall_generation: AtomicU64,
    shutdown: watch::Sender<bool>,
    accepted: AtomicU64,
    refused: AtomicU64,
    upstream_failed: AtomicU64,
    reset: AtomicU64,
    replies_lost: AtomicU64,
    open: AtomicU64,
    stalls: AtomicU64,
    bytes_to_upstream: AtomicU64,
    bytes_to_client: AtomicU64,
    produce_requests: AtomicU64,
    largest_produce_request: AtomicU64,
}

/// A TCP proxy on `127.0.0.1` forwarding every accepted connection to one
/// upstream address, with faults switched at run time:
///
/// - [`FaultProxy::reset_all`]: every open connection is closed abruptly on
///   both sides (`SO_LINGER` 0, so the peers get a TCP RST and unsent bytes
///   are dropped);
/// - [`FaultProxy::lose_reply`]: the same, once the upstream's reply to a
///   chosen Kafka request is on its way back, and that reply is dropped:
///   the request took effect, the client never learns how;
/// - [`FaultProxy::set_stalled`] / [`FaultProxy::stall_for`] /
///   [`FaultProxy::stall_at_request`]: no byte is forwarded in either
///   direction while connections stay open and new ones are still accepted
///   (a black-holed network); bytes held meanwhile are forwarded when the
///   stall ends, even to a side whose peer has closed since (as a
///   recovering network delivers retransmitted data);
/// - [`FaultProxy::hold_request`] / [`FaultProxy::release_held`]: one
///   request is held back on its own connection and delivered later, even
///   after its client has gone;
/// - [`FaultProxy::refuse`]: new connections are reset at once.
///
/// [`FaultProxy::stats`] tells what happened, so a test can assert that a
/// fault really hit traffic. Dropping the proxy stops it: its listener and
/// every connection close.
#[derive(Debug)]
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    runtime: tokio::runtime::Handle,
    thread: Option<JoinHandle<()>>,
}

impl FaultProxy {
    /// Starts a proxy on a free loopback port forwarding to `upstream`.
    ///
    /// # Errors
    /// No loopback port can be bound, or the proxy thread does not start.
    pub fn start(upstream: SocketAddr) -> anyhow::Result<FaultProxy> {
        let listener = StdListener::bind(("127.0.0.1", 0)).context("binding 127.0.0.1:0")?;
        Self::start_on(listener, Some(upstream))
    }

    /// Starts a proxy accepting on `listener` (already bound, e.g. to the
    /// port a broker will be told to advertise) forwarding to `upstream`.
    /// Without one, connections are reset at once (as a closed port would
    /// refuse them) until [`FaultProxy::set_upstream`].
    ///
    /// # Errors
    /// The listener's address or mode cannot be set, or the proxy thread
    /// does not start within 10 s.
    pub fn start_on(
        listener: StdListener,
        upstream: Option<SocketAddr>,
    ) -> anyhow::Result<FaultProxy> {
        let addr = listener.local_addr().context("proxy listener address")?;
        listener
            .set_nonblocking(true)
            .context("non-blocking proxy listener")?;
        let shared = Arc::new(Shared {
            upstream: Mutex::new(upstream),
            refuse: AtomicBool::new(false),
            stalled: watch::Sender::new(false),
            resets: watch::Sender::new(0),
            lose: RequestTrigger::default(),
            stall_at: RequestTrigger::default(),
            hold_at: RequestTrigger::default(),
            released: watch::Sender::new(0),
            holds: AtomicU64::new(0),
            stall_generation: AtomicU64::new(0),
            shutdown: watch::Sender::new(false),
            accepted: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            upstream_failed: AtomicU64::new(0),
            reset: AtomicU64::new(0),
            replies_lost: AtomicU64::new(0),
            open: AtomicU64::new(0),
            stalls: AtomicU64::new(0),
            bytes_to_upstream: AtomicU64::new(0),
            bytes_to_client: AtomicU64::new(0),
            produce_requests: AtomicU64::new(0),
            largest_produce_request: AtomicU64::new(0),
        });
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name(format!("fault-proxy-{}", addr.port()))
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(anyhow::Error::from(e).context("proxy runtime")));
                        return;
                    }
                };
                let listener = match runtime.block_on(async { TcpListener::from_std(listener) }) {
                    Ok(l) => l,
                    Err(e) => {
                        let _ =
                            ready_tx.send(Err(anyhow::Error::from(e).context("proxy listener")));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(runtime.handle().clone()));
                runtime.block_on(accept_loop(listener, thread_shared));
                // Dropping the runtime here drops every connection task.
            })
            .context("spawning the proxy thread")?;
        let runtime = ready_rx
            .recv_timeout(START_DEADLINE)
            .context("proxy thread did not start")??;
        Ok(FaultProxy {
            addr,
            shared,
            runtime,
            thread: Some(thread),
        })
    }

    /// The address the proxy listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The port the proxy listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `127.0.0.1:<port>`, for `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        self.addr.to_string()
    }

    /// The address new connections are forwarded to.
    pub fn upstream(&self) -> Option<SocketAddr> {
        *self
            .shared
            .upstream
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Forwards new connections to `upstream` (open ones keep theirs).
    pub fn set_upstream(&self, upstream: SocketAddr) {
        *self
            .shared
            .upstream
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(upstream);
    }

    /// Resets every connection open now on both sides (TCP RST); returns
    /// how many were open. Connections accepted afterwards are not touched.
    pub fn reset_all(&self) -> u64 {
        let open = self.shared.open.load(Ordering::SeqCst);
        self.shared.resets.send_modify(|g| *g += 1);
        open
    }

    /// Arms a lost reply for Kafka traffic: the reply to the `nth` request
    /// with API key `api_key` (0 Produce, 1 Fetch, ...) from now on, on any
    /// connection (`nth` >= 1), is dropped on its way back, with what
    /// follows it, and every open connection is reset: the request took
    /// effect, the client never learns how (replies passed on just before
    /// the reset may be lost with it). Requests and replies are found by
    /// the Kafka framing (4-byte size; a request starts with API key,
    /// version and correlation id, its reply with the same correlation id).
    /// Replaces an armed one; [`FaultStats::replies_lost`] counts those done.
    pub fn lose_reply(&self, api_key: i16, nth: u64) {
        self.shared.lose.arm(api_key, nth);
    }

    /// Arms a stall at a Kafka request: when the `nth` request with API
    /// key `api_key` from now on (`nth` >= 1) reaches the proxy on any
    /// connection, forwarding stops as by [`FaultProxy::set_stalled`]
    /// before that request (and what came with it in the same read) is
    /// passed on. It lasts until [`FaultProxy::set_stalled`]`(false)`;
    /// [`FaultProxy::is_stalled`] tells when it began. Replaces an armed one.
    pub fn stall_at_request(&self, api_key: i16, nth: u64) {
        self.shared.stall_at.arm(api_key, nth);
    }

    /// Holds back one request on its own connection: when the `nth`
    /// request with API key `api_key` from now on (`nth` >= 1) reaches the
    /// proxy, that connection forwards nothing more towards the upstream
    /// until [`FaultProxy::release_held`]; every other connection, new ones
    /// included, flows. The held bytes are then delivered even if the
    /// client has gone meanwhile: a request that reaches the broker only
    /// after its sender died (a produce queued at the broker when a gateway
    /// was killed). Replaces an armed one; holds already begun stay held.
    pub fn hold_request(&self, api_key: i16, nth: u64) {
        self.shared.hold_at.arm(api_key, nth);
    }

    /// Lets the first `n` holds (in the order they began, counting every
    /// hold of this proxy) go on to the upstream.
    pub fn release_holds(&self, n: u64) {
        self.shared.released.send_modify(|r| *r = (*r).max(n));
    }

    /// Lets every held request go on to the upstream.
    pub fn release_held(&self) {
        let n = self.shared.holds.load(Ordering::SeqCst);
        self.release_holds(n);
    }

    /// Stops (`true`) or resumes (`false`) forwarding in both directions.
    /// Ends a running [`FaultProxy::stall_for`] too.
    pub fn set_stalled(&self, stalled: bool) {
        self.shared.switch_stall(stalled);
    }

    /// Stalls for `duration`, then resumes forwarding (unless
    /// [`FaultProxy::set_stalled`] or another `stall_for` came meanwhile).
    /// Returns at once; [`FaultProxy::is_stalled`] tells when it is over.
    pub fn stall_for(&self, duration: Duration) {
        let generation = self.shared.switch_stall(true);
        let shared = Arc::clone(&self.shared);
        self.runtime.spawn(async move {
            tokio::time::sleep(duration).await;
            if shared.stall_generation.load(Ordering::SeqCst) == generation {
                shared.stalled.send_replace(false);
            }
        });
    }

    /// Whether forwarding is stalled now.
    pub fn is_stalled(&self) -> bool {
        *self.shared.stalled.borrow()
    }

    /// Resets (`true`) every new connection at once, or accepts them again
    /// (`false`). Open connections are not touched.
    pub fn refuse(&self, refuse: bool) {
        self.shared.refuse.store(refuse, Ordering::SeqCst);
    }

    /// The counters since start.
    pub fn stats(&self) -> FaultStats {
        let s = &self.shared;
        let get = |c: &AtomicU64| c.load(Ordering::SeqCst);
        FaultStats {
            accepted: get(&s.accepted),
            refused: get(&s.refused),
            upstream_failed: get(&s.upstream_failed),
            reset: get(&s.reset),
            replies_lost: get(&s.replies_lost),
            open: get(&s.open),
            stalls: get(&s.stalls),
            holds: get(&s.holds),
            bytes_to_upstream: get(&s.bytes_to_upstream),
            bytes_to_client: get(&s.bytes_to_client),
            produce_requests: get(&s.produce_requests),
            largest_produce_request: get(&s.largest_produce_request),
        }
    }
}

impl Drop for FaultProxy {
    /// Stops accepting and closes every connection; waits for the thread.
    fn drop(&mut self) {
        self.shared.shutdown.send_replace(true);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut shutdown = shared.shutdown.subscribe();
    loop {
        let accepted = tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => return,
            a = listener.accept() => a,
        };
        let Ok((client, _)) = accepted else {
            // Per-connection accept errors (e.g. a peer gone before accept): go on.
            continue;
        };
        shared.accepted.fetch_add(1, Ordering::SeqCst);
        if shared.refuse.load(Ordering::SeqCst) {
            shared.refused.fetch_add(1, Ordering::SeqCst);
            abort(&client);
            continue;
        }
        // Subscribed before the task runs, so a reset_all right after the
        // accept still hits this connection.
        let resets = shared.resets.subscribe();
        shared.open.fetch_add(1, Ordering::SeqCst);
        tokio::spawn(serve(client, Arc::clone(&shared), resets));
    }
}

/// How a connection ended.
enum End {
    /// Both directions reached end of stream.
    Closed,
    /// [`FaultProxy::reset_all`] or a lost reply.
    Reset,
    /// A read or write failed on one side.
    Broken,
}

/// Forwards one connection until both sides closed, one failed, or a reset.
async fn serve(mut client: TcpStream, shared: Arc<Shared>, mut resets: watch::Receiver<u64>) {
    let _open = OpenGuard(&shared);
    let Some(upstream) = *shared.upstream.lock().unwrap_or_else(|e| e.into_inner()) else {
        shared.upstream_failed.fetch_add(1, Ordering::SeqCst);
        abort(&client);
        return;
    };
    let connected = tokio::select! {
        c = TcpStream::connect(upstream) => c,
        _ = resets.changed() => {
            shared.reset.fetch_add(1, Ordering::SeqCst);
            abort(&client);
            return;
        }
    };
    let Ok(mut upstream) = connected else {
        shared.upstream_failed.fetch_add(1, Ordering::SeqCst);
        abort(&client);
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    // Correlation id of the request whose reply is to be lost.
    let doomed = AtomicI64::new(NOT_DOOMED);
    let end = {
        let (client_read, client_write) = client.split();
        let (upstream_read, upstream_write) = upstream.split();
        let up = pump(
            client_read,
            upstream_write,
            shared.stalled.subscribe(),
            &shared.bytes_to_upstream,
            Frames::Requests(&shared, &doomed),
        );
        let down = pump(
            upstream_read,
            client_write,
            shared.stalled.subscribe(),
            &shared.bytes_to_client,
            Frames::Replies(&shared, &doomed),
        );
        tokio::pin!(up, down);
        let (mut up_done, mut down_done) = (false, false);
        loop {
            tokio::select! {
                r = &mut up, if !up_done => match r {
                    Ok(()) => up_done = true,
                    Err(_) => break End::Broken,
                },
                r = &mut down, if !down_done => match r {
                    Ok(()) => down_done = true,
                    Err(e) if e.get_ref().is_some_and(|e| e.is::<ReplyLost>()) => {
                        break End::Reset
                    }
                    Err(_) => break End::Broken,
                },
                _ = resets.changed() => break End::Reset,
            }
            if up_done && down_done {
                break End::Closed;
            }
        }
    };
    match end {
        End::Closed => {}
        End::Reset => {
            shared.reset.fetch_add(1, Ordering::SeqCst);
            abort(&client);
            abort(&upstream);
        }
        End::Broken => {
            // Pass the failure on: the other side gets a reset too.
            abort(&client);
            abort(&upstream);
        }
    }
}

/// No request of the connection has its reply lost.
const NOT_DOOMED: i64 = i64::MIN;

/// What a pump looks for in the Kafka frames of its direction, for
/// [`FaultProxy::lose_reply`]: the request whose reply is lost (its
/// correlation id goes to the connection's `doomed`), or that reply.
#[derive(Clone, Copy)]
enum Frames<'a> {
    /// Client to upstream.
    Requests(&'a Shared, &'a AtomicI64),
    /// Upstream to client.
    Replies(&'a Shared, &'a AtomicI64),
}

/// The error of the pump that dropped a reply ([`FaultProxy::lose_reply`]).
#[derive(Debug)]
struct ReplyLost;

impl std::fmt::Display for ReplyLost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("reply dropped by the fault proxy")
    }
}

impl std::error::Error for ReplyLost {}

/// Copies `from` to `to` until end of stream (then half-closes `to`),
/// holding bytes while `stalled` is `true`. Follows the Kafka frames of
/// its direction for [`FaultProxy::lose_reply`]: the reply pump passes on
/// the bytes before a doomed reply, drops the rest, resets every
/// connection and returns [`ReplyLost`].
async fn pump(
    mut from: ReadHalf<'_>,
    mut to: WriteHalf<'_>,
    mut stalled: watch::Receiver<bool>,
    counter: &AtomicU64,
    frames: Frames<'_>,
) -> std::io::Result<()> {
    let mut buf = vec![0u8; BUFFER_BYTES];
    let mut splitter = match frames {
        Frames::Requests(..) => FrameSplitter::new(REQUEST_HEAD),
        Frames::Replies(..) => FrameSplitter::new(REPLY_HEAD),
    };
    loop {
        // Not read while stalled: the bytes wait in the kernel's buffers.
        flowing(&mut stalled).await;
        let n = from.read(&mut buf).await?;
        if n == 0 {
            return to.shutdown().await;
        }
        // A read that was pending when the stall began waits here.
        flowing(&mut stalled).await;
        let (pass, lost) = match frames {
            Frames::Requests(shared, doomed) => {
                let mut stall_here = false;
                let mut hold_here = false;
                splitter.feed(&buf[..n], |_, head, size| {
                    if let (Some(key), Some(id)) = (be_i16(head, 0), be_i32(head, 4)) {
                        if key == PRODUCE_KEY {
                            shared.produce_requests.fetch_add(1, Ordering::SeqCst);
                            shared
                                .largest_produce_request
                                .fetch_max(size as u64, Ordering::SeqCst);
                        }
                        if shared.lose.hit(key) {
                            doomed.store(i64::from(id), Ordering::SeqCst);
                        }
                        stall_here |= shared.stall_at.hit(key);
                        hold_here |= shared.hold_at.hit(key);
                    }
                    false
                });
                if hold_here {
                    let k = shared.holds.fetch_add(1, Ordering::SeqCst) + 1;
                    let mut released = shared.released.subscribe();
                    let _ = released.wait_for(|r| *r >= k).await;
                }
                if stall_here {
                    shared.switch_stall(true);
                    flowing(&mut stalled).await;
                }
                (n, None)
            }
            Frames::Replies(shared, doomed) => {
                let stop = splitter.feed(&buf[..n], |_, head, _| {
                    let wanted = doomed.load(Ordering::SeqCst);
                    wanted != NOT_DOOMED && be_i32(head, 0).map(i64::from) == Some(wanted)
                });
                (stop.unwrap_or(n), stop.map(|_| shared))
            }
        };
        // Counted before the write, so a peer that has read them sees them counted.
        counter.fetch_add(pass as u64, Ordering::SeqCst);
        to.write_all(&buf[..pass]).await?;
        if let Some(shared) = lost {
            shared.replies_lost.fetch_add(1, Ordering::SeqCst);
            shared.resets.send_modify(|g| *g += 1);
            return Err(std::io::Error::other(ReplyLost));
        }
    }
}

/// Bytes of a request frame's head: API key, version, correlation id.
const REQUEST_HEAD: usize = 8;
/// Bytes of a reply frame's head: correlation id.
const REPLY_HEAD: usize = 4;
/// API key of Produce.
const PRODUCE_KEY: i16 = 0;

/// The big-endian `i16` at `at` in `head`, if there.
fn be_i16(head: &[u8], at: usize) -> Option<i16> {
    Some(i16::from_be_bytes(head.get(at..at + 2)?.try_into().ok()?))
}

/// The big-endian `i32` at `at` in `head`, if there.
fn be_i32(head: &[u8], at: usize) -> Option<i32> {
    Some(i32::from_be_bytes(head.get(at..at + 4)?.try_into().ok()?))
}

/// Finds the frames of a Kafka byte stream (each a 4-byte big-endian size,
/// then that many bytes) across reads, and the first bytes ("head") of
/// each frame.
#[derive(Debug)]
struct FrameSplitter {
    head_len: usize,
    size: [u8; 4],
    /// Bytes of the size field seen; 4 once inside a frame.
    size_seen: usize,
    head: Vec<u8>,
    /// Bytes of the current frame after its head.
    body_left: usize,
    /// Where the current frame began in the chunk being fed (0 when it
    /// began in an earlier chunk).
    start: usize,
}

impl FrameSplitter {
    fn new(head_len: usize) -> Self {
        Self {
            head_len,
            size: [0; 4],
            size_seen: 0,
            head: Vec::with_capacity(head_len),
            body_left: 0,
            start: 0,
        }
    }

    /// Feeds the next chunk of the stream. Calls `on_head(start, head,
    /// size)` for each frame once its head (its first `head_len` bytes, or
    /// all of a shorter frame) is complete, `start` being where the frame
    /// began in `chunk` (0 if in an earlier one) and `size` its size field;
    /// stops and returns `start` when `on_head` returns `true`.
    fn feed(
        &mut self,
        chunk: &[u8],
        mut on_head: impl FnMut(usize, &[u8], usize) -> bool,
    ) -> Option<usize> {
        self.start = 0;
        let mut i = 0;
        while i < chunk.len() {
            if self.size_seen < 4 {
                if self.size_seen == 0 {
                    self.start = i;
                }
                self.size[self.size_seen] = chunk[i];
                self.size_seen += 1;
                i += 1;
                if self.size_seen == 4 {
                    self.body_left = usize::try_from(i32::from_be_bytes(self.size)).unwrap_or(0);
                    self.head.clear();
                    if self.body_left == 0 && self.head_done(&mut on_head) {
                        return Some(self.start);
                    }
                }
                continue;
            }
            let want = self.head_len.min(self.head.len() + self.body_left);
            if self.head.len() < want {
                let take = (want - self.head.len()).min(chunk.len() - i);
                self.head.extend_from_slice(&chunk[i..i + take]);
                self.body_left -= take;
                i += take;
                if self.head.len() == want && self.head_done(&mut on_head) {
                    return Some(self.start);
                }
                continue;
            }
            let take = self.body_left.min(chunk.len() - i);
            self.body_left -= take;
            i += take;
            if self.body_left == 0 {
                self.size_seen = 0;
            }
        }
        None
    }

    /// The head of the current frame is complete: reports it, and ends the
    /// frame if nothing follows the head. Returns what `on_head` returned.
    fn head_done(&mut self, on_head: &mut impl FnMut(usize, &[u8], usize) -> bool) -> bool {
        let size = usize::try_from(i32::from_be_bytes(self.size)).unwrap_or(0);
        let stop = on_head(self.start, &self.head, size);
        if self.body_left == 0 {
            self.size_seen = 0;
        }
        stop
    }
}

impl Shared {
    /// Sets the stall switch; returns the new stall generation.
    fn switch_stall(&self, stalled: bool) -> u64 {
        let generation = self.stall_generation.fetch_add(1, Ordering::SeqCst) + 1;
        if self.stalled.send_replace(stalled) != stalled && stalled {
            self.stalls.fetch_add(1, Ordering::SeqCst);
        }
        generation
    }
}

/// A fault armed for the `nth` Kafka request with one API key.
#[derive(Debug)]
struct RequestTrigger {
    /// The API key counted; -1: none.
    key: AtomicI32,
    /// Such requests until the one that fires; 0: not armed.
    countdown: AtomicU64,
}

impl Default for RequestTrigger {
    fn default() -> Self {
        Self {
            key: AtomicI32::new(-1),
            countdown: AtomicU64::new(0),
        }
    }
}

impl RequestTrigger {
    fn arm(&self, api_key: i16, nth: u64) {
        self.countdown.store(0, Ordering::SeqCst);
        self.key.store(i32::from(api_key), Ordering::SeqCst);
        self.countdown.store(nth.max(1), Ordering::SeqCst);
    }

    /// Counts a request with API key `key`; `true` for the one that fires.
    fn hit(&self, key: i16) -> bool {
        if self.key.load(Ordering::SeqCst) != i32::from(key) {
            return false;
        }
        let mut left = self.countdown.load(Ordering::SeqCst);
        while left > 0 {
            match self.countdown.compare_exchange(
                left,
                left - 1,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => return left == 1,
                Err(now) => left = now,
            }
        }
        false
    }
}

/// Returns once `stalled` is `false`.
async fn flowing(stalled: &mut watch::Receiver<bool>) {
    // The sender lives in `Shared`, which outlives every connection task.
    let _ = stalled.wait_for(|s| !*s).await;
}

/// `SO_LINGER` 0: closing `stream` (on drop) sends a TCP RST.
fn abort(stream: &TcpStream) {
    let _ = stream.set_zero_linger();
}

/// Counts a connection as open until dropped.
struct OpenGuard<'a>(&'a Shared);

impl Drop for OpenGuard<'_> {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A nisshi broker (in-memory storage) reachable through a [`FaultProxy`]:
/// the broker advertises the proxy's port, so every client connection after
/// bootstrap goes through the proxy, even for a client bootstrapped at the
/// broker's own port (Metadata names only the proxy). Check data with the
/// faults off. Drops the proxy first, then the broker.
#[derive(Debug)]
pub struct ProxiedBroker {
    /// The proxy (its port is the advertised one).
    pub proxy: FaultProxy,
    /// The broker behind it.
    pub broker: Broker,
}

impl ProxiedBroker {
    /// Starts the proxy on a free port, then the broker advertising that
    /// port (see [`Broker::start_advertising`]) with the proxy forwarding
    /// to it from its spawn on (the broker's readiness probe follows the
    /// advertised address), and waits (up to 30 s) until a librdkafka
    /// client gets Metadata through the proxy naming the proxy's port.
    ///
    /// # Errors
    /// The broker or the proxy does not start, or no Metadata in time (with
    /// the broker's log tail).
    pub fn start(cluster_id: &str) -> anyhow::Result<ProxiedBroker> {
        let listener = StdListener::bind(("127.0.0.1", 0)).context("binding 127.0.0.1:0")?;
        let proxy = FaultProxy::start_on(listener, None)?;
        let broker =
            Broker::start_advertising(cluster_id, Storage::Memory, proxy.port(), |port| {
                proxy.set_upstream(SocketAddr::from(([127, 0, 0, 1], port)));
            })?;
        let proxied = ProxiedBroker { proxy, broker };
        proxied.wait_ready()?;
        Ok(proxied)
    }

    /// `127.0.0.1:<proxy port>`, for `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        self.proxy.bootstrap()
    }

    /// Waits (up to 30 s) until a librdkafka client gets Metadata through
    /// the proxy, listing the proxy's port as the broker's.
    ///
    /// # Errors
    /// No Metadata in time, or Metadata advertising another port.
    pub fn wait_ready(&self) -> anyhow::Result<()> {
        let bootstrap = self.bootstrap();
        let consumer = probe_client(&bootstrap, &ClientSecurity::plaintext())?;
        let mut advertised = Vec::new();
        wait_until_blocking(
            &format!("Metadata through the fault proxy {bootstrap}"),
            BROKER_READY_DEADLINE,
            || {
                Ok(
                    match consumer.fetch_metadata(None, Duration::from_millis(1000)) {
                        Ok(m) if !m.brokers().is_empty() => {
                            advertised = m.brokers().iter().map(|b| b.port()).collect();
                            true
                        }
                        _ => false,
                    },
                )
            },
        )
        .map_err(|e| anyhow::anyhow!("{e:#}\n{}", self.broker.log_tail(20)))?;
        let port = i32::from(self.proxy.port());
        anyhow::ensure!(
            advertised == [port],
            "broker advertises ports {advertised:?}, expected the proxy's {port}"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Kafka request frame: size, API key, version 0, correlation id, body.
    fn request(key: i16, id: i32, body: &[u8]) -> Vec<u8> {
        let mut f = Vec::new();
        f.extend_from_slice(&i32::try_from(8 + body.len()).expect("small").to_be_bytes());
        f.extend_from_slice(&key.to_be_bytes());
        f.extend_from_slice(&0i16.to_be_bytes());
        f.extend_from_slice(&id.to_be_bytes());
        f.extend_from_slice(body);
        f
    }

    /// Every `(start, head)` the splitter reports for `chunks`, with the
    /// index of the chunk.
    fn heads(splitter: &mut FrameSplitter, chunks: &[&[u8]]) -> Vec<(usize, usize, Vec<u8>)> {
        let mut out = Vec::new();
        for (c, chunk) in chunks.iter().enumerate() {
            splitter.feed(chunk, |start, head, _| {
                out.push((c, start, head.to_vec()));
                false
            });
        }
        out
    }

    #[test]
    fn splitter_finds_heads_across_chunks() {
        let a = request(0, 7, b"produce");
        let b = request(1, 8, b"");
        let c = request(3, 9, &[0xff; 100]);
        let stream: Vec<u8> = [a.clone(), b.clone(), c.clone()].concat();
        let head = |key: i16, id: i32| request(key, id, b"")[4..].to_vec();
        let want = |starts: [(usize, usize); 3]| {
            vec![
                (starts[0].0, starts[0].1, head(0, 7)),
                (starts[1].0, starts[1].1, head(1, 8)),
                (starts[2].0, starts[2].1, head(3, 9)),
            ]
        };
        // One chunk.
        let got = heads(&mut FrameSplitter::new(REQUEST_HEAD), &[&stream]);
        assert_eq!(got, want([(0, 0), (0, a.len()), (0, a.len() + b.len())]));
        // Byte by byte: each head is complete in the chunk of its last byte,
        // the frame having begun in an earlier chunk.
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        let got = heads(&mut FrameSplitter::new(REQUEST_HEAD), &bytes);
        let last = |offset: usize| offset + 4 + REQUEST_HEAD - 1;
        assert_eq!(
            got,
            want([
                (last(0), 0),
                (last(a.len()), 0),
                (last(a.len() + b.len()), 0)
            ])
        );
        // Cut inside the second head.
        let cut = a.len() + 6;
        let got = heads(
            &mut FrameSplitter::new(REQUEST_HEAD),
            &[&stream[..cut], &stream[cut..]],
        );
        assert_eq!(got, want([(0, 0), (1, 0), (1, b.len() + a.len() - cut)]));
    }

    #[test]
    fn splitter_stops_at_the_wanted_frame_and_handles_short_frames() {
        // A reply frame shorter than a request head, and an empty frame.
        let short = [0, 0, 0, 2, 0xab, 0xcd];
        let empty = [0, 0, 0, 0];
        let reply = [0, 0, 0, 5, 0, 0, 0, 42, 1];
        let stream: Vec<u8> = [&short[..], &empty, &reply].concat();
        let mut splitter = FrameSplitter::new(REPLY_HEAD);
        let mut seen = Vec::new();
        let stop = splitter.feed(&stream, |start, head, _| {
            seen.push((start, head.to_vec()));
            be_i32(head, 0) == Some(42)
        });
        assert_eq!(stop, Some(short.len() + empty.len()));
        assert_eq!(
            seen,
            vec![
                (0, vec![0xab, 0xcd]),
                (short.len(), vec![]),
                (short.len() + empty.len(), vec![0, 0, 0, 42])
            ]
        );
    }
}
