//! A real `cuttle serve` for the tests that speak HTTP to it: started on a free port of the
//! loopback, stopped with SIGTERM when dropped; requests through `ureq`, every response body kept
//! so that a test can check that none held a plaintext secret.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use serde_json::Value;

use super::World;

/// A running `cuttle serve`, stopped (SIGTERM) when dropped.
pub struct Server {
    pub child: Child,
    pub base: String,
    log: Arc<Mutex<String>>,
    /// Reads the server's standard error into `log`; it ends when the server has exited.
    reader: Option<std::thread::JoinHandle<()>>,
}

impl World {
    pub fn serve(&self, instance: &str, extra: &[&str]) -> Server {
        self.serve_with(instance, extra, &[])
    }

    pub fn serve_with(&self, instance: &str, extra: &[&str], env: &[(&str, &str)]) -> Server {
        let mut command = std::process::Command::new(assert_cmd::cargo::cargo_bin("cuttle"));
        command
            .args(["serve", "--instance", instance])
            .args(if extra.contains(&"--listen") {
                &[][..]
            } else {
                &["--listen", "127.0.0.1:0"][..]
            })
            .args(extra)
            .env("CUTTLE_HOME", self.home())
            .env_remove("CUTTLE_MASTER_KEY")
            .env_remove("PGPASSWORD")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if self.large.get() {
            command.env("CUTTLE_LARGE_DOCUMENT", "0");
        } else {
            command.env_remove("CUTTLE_LARGE_DOCUMENT");
        }
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (ready, started) = mpsc::channel();
        let kept = log.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(at) = line.find(" on http") {
                    let url = line[at + 4..].split(' ').next().unwrap().to_owned();
                    let _ = ready.send(url);
                }
                kept.lock().unwrap().push_str(&line);
                kept.lock().unwrap().push('\n');
            }
        });
        let base = started
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("the server did not start: {}", log.lock().unwrap()));
        Server {
            child,
            base,
            log,
            reader: Some(reader),
        }
    }

    /// A key for `user` made at the command line (`extra`: `--read-only`, `--expires`).
    pub fn key(&self, instance: &str, user: &str, extra: &[&str]) -> String {
        let made = self
            .cuttle()
            .args(["api-key", "create", "--instance", instance, "--user", user])
            .args(extra)
            .assert()
            .success();
        super::stdout(&made).trim().to_owned()
    }

    /// An administrator of `instance` and their key.
    pub fn admin(&self, instance: &str) -> String {
        let made = self
            .cuttle()
            .args(["admin", "create", "--instance", instance, "--user", "admin"])
            .assert()
            .success();
        super::stdout(&made).trim().to_owned()
    }
}

impl Server {
    pub fn stop(&mut self) -> std::process::ExitStatus {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        self.wait()
    }

    /// Waits for the server to exit and for its last lines to reach the log.
    pub fn wait(&mut self) -> std::process::ExitStatus {
        let status = self.child.wait().unwrap();
        if let Some(reader) = self.reader.take() {
            reader.join().unwrap();
        }
        status
    }

    /// What the server has written to standard error so far; after `stop` or `wait`, all of it.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            self.stop();
        }
    }
}

/// An HTTP response: status, headers, body.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {} {}", self.status, self.body))
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Every response body seen, to scan for a plaintext secret at the end of a test.
pub static SEEN: Mutex<String> = Mutex::new(String::new());

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// A request: `method path` (under /api/v1), with a key, a body and headers.
pub fn call(
    server: &Server,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: Option<&str>,
    headers: &[(&str, &str)],
) -> Reply {
    let url = format!("{}{path}", server.base);
    let mut request = ureq::http::Request::builder().method(method).uri(&url);
    if let Some(key) = key {
        request = request.header("Authorization", format!("Bearer {key}"));
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let agent = agent();
    let response = match body {
        Some(body) => {
            let mut request = request;
            if !headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
            {
                request = request.header("Content-Type", "application/json");
            }
            agent.run(request.body(body.to_owned()).unwrap())
        }
        None => agent.run(request.body(()).unwrap()),
    };
    reply(response.unwrap_or_else(|e| panic!("{method} {url}: {e}")))
}

/// A response as a [`Reply`], its body kept for the plaintext scan.
fn reply(mut response: ureq::http::Response<ureq::Body>) -> Reply {
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or_default().to_owned()))
        .collect();
    let body = response.body_mut().read_to_string().unwrap_or_default();
    SEEN.lock().unwrap().push_str(&body);
    Reply {
        status,
        headers,
        body,
    }
}

pub fn get(server: &Server, path: &str, key: &str) -> Reply {
    call(server, "GET", path, Some(key), None, &[])
}

pub fn put(server: &Server, collection: &str, key: &str, doc: &Value) -> Reply {
    call(
        server,
        "PUT",
        &format!("/collections/{collection}/document"),
        Some(key),
        Some(&doc.to_string()),
        &[],
    )
}

/// `?project=…&key=…`, encoded.
pub fn address(project: Option<&str>, key: Option<&str>) -> String {
    let mut parts = Vec::new();
    if let Some(p) = project {
        parts.push(format!("project={}", encode(p)));
    }
    if let Some(k) = key {
        parts.push(format!("key={}", encode(k)));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

pub fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub fn document(
    server: &Server,
    collection: &str,
    project: Option<&str>,
    key: Option<&str>,
    api: &str,
) -> Reply {
    get(
        server,
        &format!(
            "/collections/{collection}/document{}",
            address(project, key)
        ),
        api,
    )
}

pub fn assert_problem(reply: &Reply, status: u16, kind: &str) -> Value {
    assert_eq!(reply.status, status, "{}", reply.body);
    assert_eq!(
        reply.header("content-type"),
        Some("application/problem+json"),
        "{}",
        reply.body
    );
    let problem = reply.json();
    assert_eq!(problem["status"], status);
    assert_eq!(problem["kind"], kind, "{problem}");
    assert_eq!(problem["type"], format!("urn:cuttle:problem:{kind}"));
    problem
}

pub fn no_plaintext_seen() {
    let seen = SEEN.lock().unwrap();
    assert!(
        super::never_printed(seen.as_bytes()).is_none(),
        "a response held a plaintext secret or a digest"
    );
}

/// A request with a binary body (an archive) of `content_type`.
pub fn send_bytes(
    server: &Server,
    path: &str,
    key: &str,
    content_type: &str,
    body: Vec<u8>,
) -> Reply {
    let url = format!("{}{path}", server.base);
    let request = ureq::http::Request::builder()
        .method("POST")
        .uri(&url)
        .header("Authorization", format!("Bearer {key}"))
        .header("Content-Type", content_type)
        .body(body)
        .unwrap();
    reply(
        agent()
            .run(request)
            .unwrap_or_else(|e| panic!("POST {url}: {e}")),
    )
}

/// A download: its status and bytes (kept for the plaintext scan too).
pub fn download(server: &Server, path: &str, key: &str) -> (u16, Vec<u8>) {
    let url = format!("{}{path}", server.base);
    let request = ureq::http::Request::builder()
        .method("GET")
        .uri(&url)
        .header("Authorization", format!("Bearer {key}"))
        .body(())
        .unwrap();
    let mut response = agent()
        .run(request)
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = response.status().as_u16();
    let bytes = response
        .body_mut()
        .with_config()
        .limit(u64::MAX)
        .read_to_vec()
        .unwrap();
    SEEN.lock()
        .unwrap()
        .push_str(&String::from_utf8_lossy(&bytes));
    (status, bytes)
}

/// Every permission but administration (a role for the authorisation tests).
pub fn everything_but_administration() -> Vec<&'static str> {
    cuttle_domain::access::Permission::ALL
        .iter()
        .filter(|p| **p != cuttle_domain::access::Permission::AdministerSystem)
        .map(|p| p.name())
        .collect()
}
