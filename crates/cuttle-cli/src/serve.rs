//! `cuttle serve`: the HTTP server of `cuttle-server`, with its options checked.

use anyhow::Result;
use cuttle_service::Service;

use crate::cli::ServeArgs;

pub fn run(service: Service, args: ServeArgs) -> Result<()> {
    let tls = match (args.tls_cert, args.tls_key) {
        (Some(cert), Some(key)) => Some(cuttle_server::Tls { cert, key }),
        _ => None,
    };
    let options = cuttle_server::Options {
        instance: args.instance,
        listen: args.listen,
        tls,
        insecure_http: args.insecure_http,
        body_limit: args.max_request_bytes,
        request_timeout: std::time::Duration::from_secs(args.request_timeout),
        migration_roots: args.migration_root,
        work_dir: args.work_dir,
        ..cuttle_server::Options::default()
    };
    Ok(cuttle_server::run(service, options)?)
}
