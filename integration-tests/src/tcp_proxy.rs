//! A TCP proxy on 127.0.0.1 that a test can cut and restore, to make a
//! network outage while the server behind it keeps its state (stopping an
//! emulator would lose its queues: LocalStack community keeps nothing across
//! a restart).
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use strata_integration_tests::tcp_proxy::CuttableProxy;
//! let proxy = CuttableProxy::start("127.0.0.1:4566").await?;
//! let endpoint = proxy.url(); // point the client here
//! proxy.cut().await; // connections dropped, new ones refused
//! proxy.restore().await?; // accepting again, same port
//! # let _ = endpoint; Ok(()) }
//! ```

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use strata_core::sync::lock;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::Mutex;
use tokio::task::{AbortHandle, JoinHandle};

/// Forwards every connection to one target until cut.
#[derive(Debug)]
pub struct CuttableProxy {
    addr: SocketAddr,
    target: String,
    counters: Arc<Counters>,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct Counters {
    accepted: AtomicU64,
    bytes_to_target: AtomicU64,
    bytes_from_target: AtomicU64,
    dropped: AtomicU64,
}

#[derive(Debug, Default)]
struct State {
    /// The accept loop; `None` while cut.
    acceptor: Option<JoinHandle<()>>,
    /// Every forwarding task started since the last cut.
    connections: Arc<std::sync::Mutex<Vec<AbortHandle>>>,
}

impl CuttableProxy {
    /// Listens on a free port of 127.0.0.1 and forwards to `target`
    /// (`host:port`).
    ///
    /// # Errors
    /// When no port can be bound.
    pub async fn start(target: &str) -> std::io::Result<CuttableProxy> {
        let listener = listen("127.0.0.1:0".parse().map_err(std::io::Error::other)?)?;
        let addr = listener.local_addr()?;
        let proxy = CuttableProxy {
            addr,
            target: target.to_owned(),
            counters: Arc::default(),
            state: Mutex::default(),
        };
        proxy.serve(listener).await;
        Ok(proxy)
    }

    /// `http://127.0.0.1:<port>`, for a client's endpoint.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.counters.accepted.load(Ordering::Relaxed)
    }

    /// Bytes forwarded from clients to the target so far.
    pub fn bytes_to_target(&self) -> u64 {
        self.counters.bytes_to_target.load(Ordering::Relaxed)
    }

    /// Bytes forwarded from the target to clients so far.
    pub fn bytes_from_target(&self) -> u64 {
        self.counters.bytes_from_target.load(Ordering::Relaxed)
    }

    /// Open connections dropped by [`CuttableProxy::cut`] so far.
    pub fn dropped(&self) -> u64 {
        self.counters.dropped.load(Ordering::Relaxed)
    }

    /// Closes the listener (new connections are refused) and drops every open
    /// connection, mid-request or not. Returns once both are done.
    pub async fn cut(&self) {
        let mut state = self.state.lock().await;
        if let Some(acceptor) = state.acceptor.take() {
            acceptor.abort();
            // Awaiting the aborted task makes sure the listener is closed.
            let _ = acceptor.await;
        }
        let open = std::mem::take(&mut *lock(&state.connections));
        for connection in &open {
            if !connection.is_finished() {
                self.counters.dropped.fetch_add(1, Ordering::Relaxed);
            }
            connection.abort();
        }
    }

    /// Listens again on the same port after a [`CuttableProxy::cut`]; a no-op
    /// when not cut.
    ///
    /// # Errors
    /// When the port cannot be bound again (another process took it).
    pub async fn restore(&self) -> std::io::Result<()> {
        if self.state.lock().await.acceptor.is_some() {
            return Ok(());
        }
        let listener = listen(self.addr)?;
        self.serve(listener).await;
        Ok(())
    }

    async fn serve(&self, listener: TcpListener) {
        let mut state = self.state.lock().await;
        let connections = state.connections.clone();
        let counters = self.counters.clone();
        let target = self.target.clone();
        state.acceptor = Some(tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                counters.accepted.fetch_add(1, Ordering::Relaxed);
                let task = tokio::spawn(forward(client, target.clone(), counters.clone()));
                let mut open = lock(&connections);
                open.retain(|c| !c.is_finished());
                open.push(task.abort_handle());
            }
        }));
    }
}

impl Drop for CuttableProxy {
    fn drop(&mut self) {
        if let Ok(state) = self.state.try_lock() {
            if let Some(acceptor) = &state.acceptor {
                acceptor.abort();
            }
            for connection in lock(&state.connections).iter() {
                connection.abort();
            }
        }
    }
}

/// A listener with `SO_REUSEADDR`, so the port can be bound again while the
/// connections the cut closed linger in TIME_WAIT.
fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

/// Copies both ways until either side closes (or the task is aborted).
async fn forward(client: TcpStream, target: String, counters: Arc<Counters>) {
    let Ok(server) = TcpStream::connect(&target).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let up = copy(
        &mut client_read,
        &mut server_write,
        &counters.bytes_to_target,
    );
    let down = copy(
        &mut server_read,
        &mut client_write,
        &counters.bytes_from_target,
    );
    tokio::select! {
        () = up => {}
        () = down => {}
    }
}

async fn copy(
    from: &mut (impl AsyncReadExt + Unpin),
    to: &mut (impl AsyncWriteExt + Unpin),
    counter: &AtomicU64,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }
}
