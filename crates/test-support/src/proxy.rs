//! A TCP proxy in front of PostgreSQL that a test can cut and restore: the way to make the
//! database unreachable for one app (a receiver, a processor) without touching the shared server.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

pub struct Proxy {
    pub port: u16,
    up: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<AbortHandle>>>,
    accept: AbortHandle,
}

impl Proxy {
    pub async fn start(target: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let connections: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let accept = {
            let up = up.clone();
            let connections = connections.clone();
            tokio::spawn(async move {
                while let Ok((mut inbound, _)) = listener.accept().await {
                    if !up.load(Ordering::SeqCst) {
                        drop(inbound); // refused, as by a database that is down
                        continue;
                    }
                    let target = target.clone();
                    let task = tokio::spawn(async move {
                        if let Ok(mut outbound) = TcpStream::connect(target).await {
                            let _ =
                                tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        }
                    });
                    connections.lock().unwrap().push(task.abort_handle());
                }
            })
            .abort_handle()
        };
        Proxy {
            port,
            up,
            connections,
            accept,
        }
    }

    /// A proxy to the server of the PostgreSQL `url`, and that URL through the proxy (database,
    /// user and options such as the test's search_path unchanged).
    pub async fn in_front_of(url: &str) -> (Proxy, String) {
        let mut through = url::Url::parse(url).unwrap();
        let target = format!(
            "{}:{}",
            through.host_str().unwrap_or("127.0.0.1"),
            through.port().unwrap_or(5432)
        );
        let proxy = Proxy::start(target).await;
        through.set_host(Some("127.0.0.1")).unwrap();
        through.set_port(Some(proxy.port)).unwrap();
        (proxy, through.to_string())
    }

    /// Drops every open connection and refuses new ones.
    pub fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for task in self.connections.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    pub fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}
