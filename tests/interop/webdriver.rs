//! A minimal W3C WebDriver client for the interop tests: starts `chromedriver` on a free
//! 127.0.0.1 port, opens one headless Chromium session and runs (async) scripts in it. Plain
//! HTTP/1.1 over `std::net::TcpStream` (one connection per command), with the SDK's own
//! request encoder / response decoder; JSON via serde_json. Everything is torn down on drop:
//! the session is deleted, chromedriver (and with it Chromium) killed and the profile removed.

use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use genesys_webrtc::wire::http::{HttpRequest, Method, ResponseDecoder};
use serde_json::{json, Value};

/// Chromium as Debian installs it.
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// chromedriver as Debian installs it (`chromium-driver`).
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A running chromedriver with one browser session.
pub struct Browser {
    driver: Child,
    addr: SocketAddr,
    session: Option<String>,
    profile: PathBuf,
}

fn free_port() -> std::io::Result<u16> {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(l.local_addr()?.port())
}

/// A fresh empty directory under the system temp dir.
pub fn temp_dir(tag: &str) -> std::io::Result<PathBuf> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!("{tag}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

impl Browser {
    /// Starts chromedriver and a headless Chromium with `extra_args` on top of the usual
    /// headless/no-network flags. Fails with a clear message if either binary is missing.
    pub fn start(extra_args: &[String]) -> Result<Browser, String> {
        for bin in [CHROMIUM, CHROMEDRIVER] {
            if !Path::new(bin).exists() {
                return Err(format!(
                    "{bin} is missing: install Debian's chromium and chromium-driver \
                     (scripts/test.sh does: apt-get install -y chromium chromium-driver)"
                ));
            }
        }
        let port = free_port().map_err(|e| format!("no free port: {e}"))?;
        let profile = temp_dir("interop-chromium").map_err(|e| format!("temp dir: {e}"))?;
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {CHROMEDRIVER}: {e}"))?;
        let mut browser = Browser {
            driver,
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            session: None,
            profile,
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            match browser.request(Method::Get, "/status", None) {
                Ok(v) if v["value"]["ready"] == json!(true) => break,
                _ if Instant::now() > deadline => {
                    return Err("chromedriver did not become ready in 15 s".to_owned())
                }
                _ => std::thread::sleep(Duration::from_millis(50)),
            }
        }
        let mut args: Vec<String> = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--autoplay-policy=no-user-gesture-required",
            "--use-fake-device-for-media-stream",
            "--use-fake-ui-for-media-stream",
            "--allow-loopback-in-peer-connection",
            "--disable-features=WebRtcHideLocalIpsWithMdns",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        args.push(format!("--user-data-dir={}", browser.profile.display()));
        args.extend(extra_args.iter().cloned());
        let caps = json!({
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": { "binary": CHROMIUM, "args": args },
                }
            }
        });
        let v = browser.request(Method::Post, "/session", Some(caps))?;
        let id = v["value"]["sessionId"]
            .as_str()
            .ok_or_else(|| format!("no session: {v}"))?
            .to_owned();
        browser.session = Some(id);
        browser.command(
            Method::Post,
            "timeouts",
            json!({ "script": 60_000, "pageLoad": 30_000 }),
        )?;
        Ok(browser)
    }

    /// Navigates to `url`.
    pub fn goto(&mut self, url: &str) -> Result<(), String> {
        self.command(Method::Post, "url", json!({ "url": url }))
            .map(|_| ())
    }

    /// Runs `script` (a function body; `arguments[0..]` are `args`, the last argument is the
    /// completion callback) and returns what it passed to the callback.
    pub fn execute_async(&mut self, script: &str, args: Vec<Value>) -> Result<Value, String> {
        let v = self.command(
            Method::Post,
            "execute/async",
            json!({ "script": script, "args": args }),
        )?;
        Ok(v["value"].clone())
    }

    /// Runs a synchronous script and returns its value.
    pub fn execute(&mut self, script: &str, args: Vec<Value>) -> Result<Value, String> {
        let v = self.command(
            Method::Post,
            "execute/sync",
            json!({ "script": script, "args": args }),
        )?;
        Ok(v["value"].clone())
    }

    fn command(&mut self, method: Method, what: &str, body: Value) -> Result<Value, String> {
        let session = self.session.clone().ok_or("no session")?;
        self.request(method, &format!("/session/{session}/{what}"), Some(body))
    }

    fn request(&self, method: Method, target: &str, body: Option<Value>) -> Result<Value, String> {
        let mut headers = vec![("Connection".to_owned(), "close".to_owned())];
        let body = match body {
            Some(b) => {
                headers.push((
                    "Content-Type".to_owned(),
                    "application/json; charset=utf-8".to_owned(),
                ));
                b.to_string().into_bytes()
            }
            None => Vec::new(),
        };
        let req = HttpRequest {
            method,
            host: self.addr.to_string(),
            target: target.to_owned(),
            headers,
            body,
        };
        let mut stream = TcpStream::connect_timeout(&self.addr, Duration::from_secs(5))
            .map_err(|e| format!("connect to chromedriver: {e}"))?;
        stream
            .set_read_timeout(Some(Duration::from_secs(120)))
            .map_err(|e| e.to_string())?;
        stream
            .write_all(&req.encode())
            .map_err(|e| format!("write to chromedriver: {e}"))?;
        let mut decoder = ResponseDecoder::new(method);
        let mut buf = [0u8; 16 * 1024];
        let response = loop {
            let n = stream
                .read(&mut buf)
                .map_err(|e| format!("read from chromedriver: {e}"))?;
            if n == 0 {
                break decoder.finish().map_err(|e| format!("{e:?}"))?;
            }
            if let Some(r) = decoder
                .push(buf.get(..n).unwrap_or_default())
                .map_err(|e| format!("{e:?}"))?
            {
                break r;
            }
        };
        let v: Value = serde_json::from_slice(&response.body).map_err(|e| {
            format!(
                "chromedriver answered {} with non-JSON: {e}: {}",
                response.status,
                String::from_utf8_lossy(&response.body)
            )
        })?;
        if response.status != 200 {
            return Err(format!(
                "{} {target}: {} {}",
                method.as_str(),
                response.status,
                v["value"]
            ));
        }
        Ok(v)
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(s) = self.session.take() {
            let _ = self.request(Method::Delete, &format!("/session/{s}"), None);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// A one-page HTTP server on 127.0.0.1 (an `http://127.0.0.1` page is a secure context, so
/// `getUserMedia` works there, unlike on `about:blank` or a `data:` URL). Stops on drop.
pub struct PageServer {
    addr: SocketAddr,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl PageServer {
    /// Serves `html` (with `Connection: close`) for every request.
    pub fn start(html: &'static str) -> std::io::Result<PageServer> {
        use genesys_webrtc::wire::http::HttpResponse;
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let addr = listener.local_addr()?;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = std::sync::Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if flag.load(std::sync::atomic::Ordering::SeqCst) {
                    break;
                }
                let Ok(mut conn) = conn else { continue };
                let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
                // Read the request head (the body, if any, is ignored).
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => head.extend_from_slice(buf.get(..n).unwrap_or_default()),
                    }
                }
                let favicon = head.starts_with(b"GET /favicon");
                let response = HttpResponse {
                    status: if favicon { 404 } else { 200 },
                    reason: if favicon { "Not Found" } else { "OK" }.to_owned(),
                    headers: vec![
                        (
                            "Content-Type".to_owned(),
                            "text/html; charset=utf-8".to_owned(),
                        ),
                        ("Connection".to_owned(), "close".to_owned()),
                    ],
                    body: if favicon {
                        Vec::new()
                    } else {
                        html.as_bytes().to_vec()
                    },
                };
                let _ = conn.write_all(&response.encode());
            }
        });
        Ok(PageServer {
            addr,
            stop,
            thread: Some(thread),
        })
    }

    /// The page's URL.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }
}

impl Drop for PageServer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A temporary directory removed on drop (also when a test panics).
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A fresh empty directory (see [`temp_dir`]).
    pub fn new(tag: &str) -> std::io::Result<TempDir> {
        temp_dir(tag).map(TempDir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
