//! The files in `contrib/` stay usable: the sample config loads with the
//! values the service file and Dockerfile rely on.

use std::path::Path;

use ndb::Config;
use ndb::Protocol;

#[test]
fn the_sample_config_loads() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/ndb.jsonc");
    let config = Config::default().load_file(&path).expect("contrib/ndb.jsonc loads");
    assert_eq!((config.ip.as_str(), config.port), ("127.0.0.1", 1987));
    assert_eq!(config.protocol, Protocol::V07);
    assert_eq!(config.max_payload, 1024 * 1024);
    assert_eq!(config.max_connections, 10_000);
    assert!(config.persist_enabled);
    assert_eq!(config.persist_path, Path::new("/var/lib/ndb"), "the unit's StateDirectory");
    // Restarts restore and save by themselves.
    assert_eq!(config.load_on_start.as_deref(), Some("ndb"));
    assert_eq!(config.save_on_exit.as_deref(), Some("ndb"));
    let text = std::fs::read_to_string(&path).unwrap();
    let (_, unknown) = Config::default().apply_document(&text).unwrap();
    assert!(unknown.is_empty(), "{unknown:?}");
}

#[test]
fn the_service_and_image_point_at_the_sample_config() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let unit = std::fs::read_to_string(root.join("contrib/ndb.service")).unwrap();
    assert!(unit.contains("ExecStart=/usr/local/bin/ndb-server --config /etc/ndb/ndb.jsonc\n"));
    assert!(unit.contains("StateDirectory=ndb\n") && unit.contains("DynamicUser=yes\n"));
    let dockerfile = std::fs::read_to_string(root.join("contrib/Dockerfile")).unwrap();
    assert!(dockerfile.contains("COPY contrib/ndb.jsonc /etc/ndb/ndb.jsonc\n"));
}

#[test]
fn the_service_and_image_show_where_certificates_and_users_live() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let unit = std::fs::read_to_string(root.join("contrib/ndb.service")).unwrap();
    assert!(unit.contains("ExecReload=/bin/kill -HUP $MAINPID\n"), "systemctl reload renews the certificate");
    assert!(unit.contains("SupplementaryGroups=ndb\n") && unit.contains("/etc/ndb/tls/"));
    let dockerfile = std::fs::read_to_string(root.join("contrib/Dockerfile")).unwrap();
    // The server's default features include TLS; the image is the shipped profile.
    assert!(dockerfile.contains("cargo build --profile dist --locked -p ndb-server "));
    assert!(!dockerfile.contains("--no-default-features"), "the image serves wss://");
    assert!(dockerfile.contains("/etc/ndb/tls/fullchain.pem") && dockerfile.contains("\"users\""));
    // The sample's commented users and tls members load once uncommented.
    let sample = std::fs::read_to_string(root.join("contrib/ndb.jsonc")).unwrap();
    let hex = "0".repeat(64);
    let mut inside = false;
    let mut uncommented = Vec::new();
    for line in sample.lines() {
        let code = line.trim_start().strip_prefix("// ").map(str::trim_start);
        match code {
            Some(code) if inside || code.starts_with("\"users\": [") || code.starts_with("\"tls\": {") => {
                inside = !(code.starts_with("],") || code.starts_with("},"));
                uncommented.push(code.replace("<64 hex digits>", &hex));
            }
            _ => uncommented.push(line.to_owned()),
        }
    }
    let uncommented = uncommented.join("\n");
    let config = Config::default().apply_json(&uncommented);
    if cfg!(feature = "tls") {
        let config = config.expect("the uncommented sample loads");
        assert_eq!(config.users.iter().count(), 3);
        assert_eq!(config.tls.unwrap().certificate, Path::new("/etc/ndb/tls/fullchain.pem"));
    }
}
