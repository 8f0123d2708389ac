//! Bulk-load benchmark (issue 3): 1M certificates (10% revoked, each with its pre-signed OCSP
//! response) and 100k numbering assignments, on SQLite and, when TSCA_TEST_DATABASE_URL is
//! set, PostgreSQL (a fresh database, dropped afterwards). Then, on the loaded database:
//! revocation commit latency through `Store::revoke_certificate` (p50/p99), building the
//! lookup index, and lookup latency at 100k assignments.
//!
//! The load itself goes through plain multi-row INSERTs in 10k-row transactions, the way an
//! import from another CA would, not through the one-at-a-time issuance path (which the
//! revocation figures exercise). Row sizes match real artifacts: 700-octet certificates,
//! 550-octet TBS, 300-octet OCSP responses.
//!
//!     cargo bench -p ca-store --bench bulk_load            # full size
//!     BULK_CERTS=100000 cargo bench -p ca-store --bench bulk_load
//!
//! Writes target/bench-report/ca-store.md. Never fails on a timing.

#![allow(clippy::unwrap_used, missing_docs)]

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use ca_core::numbering::{E164Number, NumberingScope, ScopeConstraint};
use ca_core::revocation::RevocationReason;
use ca_store::*;
use sqlx::Connection;

/// The current time in whole seconds.
fn now() -> jiff::Timestamp {
    jiff::Timestamp::from_second(jiff::Timestamp::now().as_second()).unwrap()
}

const BATCH: usize = 500;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Report {
    lines: Vec<String>,
}

#[tokio::main]
async fn main() {
    let certs = env_usize("BULK_CERTS", 1_000_000);
    let assignments = env_usize("BULK_ASSIGNMENTS", 100_000);
    let mut report = Report { lines: Vec::new() };
    report.lines.push(format!(
        "# ca-store bulk-load report\n\n{certs} certificates (10% revoked, each with an OCSP response), \
         {assignments} assignments. Run {} (unix time), {} cores.\n",
        now(),
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    ));
    report.lines.push(
        "| backend | load | database size | revoke p50 | revoke p99 | index build | lookup p50 | lookup p99 |\n|---|---|---|---|---|---|---|---|"
            .into(),
    );

    let dir = tempfile::tempdir().unwrap();
    let sqlite_url = format!("sqlite://{}/bench.db", dir.path().display());
    let row = run("SQLite", &sqlite_url, certs, assignments, || {
        let mut size = 0;
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            size += entry.unwrap().metadata().unwrap().len();
        }
        async move { size }
    })
    .await;
    report.lines.push(row);

    if let Ok(admin) = std::env::var("TSCA_TEST_DATABASE_URL") {
        let name = format!("tsca_bench_{}", std::process::id());
        let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .unwrap();
        let mut url = url::Url::parse(&admin).unwrap();
        url.set_path(&name);
        let pg_url = url.to_string();
        let size_url = pg_url.clone();
        let row = run("PostgreSQL", &pg_url, certs, assignments, move || {
            let size_url = size_url.clone();
            async move {
                let mut c = sqlx::PgConnection::connect(&size_url).await.unwrap();
                let size: i64 = sqlx::query_scalar("SELECT pg_database_size(current_database())")
                    .fetch_one(&mut c)
                    .await
                    .unwrap();
                size as u64
            }
        })
        .await;
        report.lines.push(row);
        sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
            .execute(&mut conn)
            .await
            .unwrap();
    } else {
        report
            .lines
            .push("\n(PostgreSQL skipped: TSCA_TEST_DATABASE_URL not set.)".into());
    }

    let text = report.lines.join("\n") + "\n";
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-report");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("ca-store.md");
    std::fs::write(&path, &text).unwrap();
    println!("{text}");
}

async fn run<F, Fut>(label: &str, url: &str, certs: usize, assignments: usize, size: F) -> String
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = u64>,
{
    let store = Store::open(url).await.unwrap();
    let reader = store.reader();
    let actor = Actor::cli("bench");
    let mut tx = store.begin(now()).await.unwrap();
    let root = tx
        .insert_authority(
            &NewAuthority {
                name: "root".into(),
                tier: Tier::Root,
                parent_id: None,
                scope: ScopeConstraint::Unconstrained,
                status: AuthorityStatus::Active,
                approval: ApprovalPolicy::Manual,
                key_id: None,
                csr_der: None,
                certificate_der: None,
                family: ca_store::AuthorityFamily::Tsca,
            },
            &actor,
        )
        .await
        .unwrap();
    let national = tx
        .insert_authority(
            &NewAuthority {
                name: "national".into(),
                tier: Tier::National,
                parent_id: Some(root.id),
                scope: ScopeConstraint::Within(NumberingScope::parse(["prefix:33"]).unwrap()),
                status: AuthorityStatus::Active,
                approval: ApprovalPolicy::WithinAssignments,
                key_id: None,
                csr_der: None,
                certificate_der: None,
                family: ca_store::AuthorityFamily::Tsca,
            },
            &actor,
        )
        .await
        .unwrap();
    // 1,000 operators share the assignments and certificates.
    let mut operators = Vec::new();
    for i in 0..1000 {
        operators.push(
            tx.insert_operator(
                &NewOperator {
                    authority_id: national.id,
                    name: format!("op{i}"),
                    country: CountryCode::parse("FR").unwrap(),
                },
                &actor,
            )
            .await
            .unwrap()
            .id,
        );
    }
    tx.commit().await.unwrap();

    sqlx::any::install_default_drivers();
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(&with_mode(url))
        .await
        .unwrap();
    let started = Instant::now();
    // Assignments: disjoint 7-digit blocks 33 + 5 digits, one operator each.
    for chunk in (0..assignments).collect::<Vec<_>>().chunks(BATCH * 4) {
        let mut sql = String::from(
            "INSERT INTO assignments (authority_id, operator_id, resource, valid_from, created_at) VALUES ",
        );
        for (n, i) in chunk.iter().enumerate() {
            if n > 0 {
                sql.push(',');
            }
            write!(
                sql,
                "({}, {}, 'prefix:33{:05}', 0, 0)",
                national.id,
                operators[i % 1000],
                i
            )
            .unwrap();
        }
        sqlx::query(&sql).execute(&pool).await.unwrap();
    }
    let der = vec![0x30u8; 700];
    let tbs = vec![0x31u8; 550];
    let response = vec![0x32u8; 300];
    let mut tx = pool.begin().await.unwrap();
    for start in (0..certs).step_by(BATCH) {
        let end = (start + BATCH).min(certs);
        let mut sql = String::from(
            "INSERT INTO certificates (issuer_id, serial, status, profile, subject, operator_id, not_before, \
             not_after, scope, tbs_der, der, fingerprint, public_key_sha256, reserved_at, issued_at, \
             revoked_at, revocation_reason) VALUES ",
        );
        let mut q_rows = Vec::new();
        for i in start..end {
            let revoked = i % 10 == 0;
            q_rows.push(format!(
                "({}, ${}, '{}', 'operator', 'CN=op', {}, 0, 4000000000, 'prefix:33{:05}', ${}, ${}, '{:064x}', '{:064x}', 0, 0, {}, {})",
                national.id,
                (i - start) * 3 + 1,
                if revoked { "revoked" } else { "valid" },
                operators[i % 1000],
                i % assignments.max(1),
                (i - start) * 3 + 2,
                (i - start) * 3 + 3,
                i,
                i % 1000,
                if revoked { "1" } else { "NULL" },
                if revoked { "1" } else { "NULL" },
            ));
        }
        sql.push_str(&q_rows.join(","));
        let mut query = sqlx::query(&sql);
        for i in start..end {
            // A positive serial without a leading zero octet (RFC 5280 §4.1.2.2).
            query = query
                .bind([&[0x41u8][..], &(i as u64 + 1).to_be_bytes()].concat())
                .bind(tbs.clone())
                .bind(der.clone());
        }
        query.execute(&mut *tx).await.unwrap();
        // OCSP responses for the same certificates (ids follow insertion order).
        let sql = String::from(
            "INSERT INTO ocsp_responses (certificate_id, issuer_id, sha1_key, sha256_key, der, this_update, next_update) \
             SELECT id, issuer_id, serial, {}, $1, 0, 0 FROM certificates WHERE id > $2 AND id <= $3",
        );
        // A distinct SHA-256 key per row: bytea concatenation on PostgreSQL; on SQLite `||`
        // would turn blobs into text, so use the fingerprint's bytes.
        let sql = sql.replace(
            "{}",
            if label == "SQLite" {
                "CAST(fingerprint AS BLOB)"
            } else {
                "serial || serial"
            },
        );
        let base: i64 =
            sqlx::query_scalar("SELECT MIN(id) FROM certificates WHERE operator_id IS NOT NULL")
                .fetch_one(&mut *tx)
                .await
                .unwrap_or(1);
        sqlx::query(&sql)
            .bind(response.clone())
            .bind(base - 1 + start as i64)
            .bind(base - 1 + end as i64)
            .execute(&mut *tx)
            .await
            .unwrap();
        if end % 10_000 == 0 || end == certs {
            tx.commit().await.unwrap();
            tx = pool.begin().await.unwrap();
            if end % 100_000 == 0 {
                eprintln!(
                    "{label}: {end} certificates loaded in {:.1} s",
                    started.elapsed().as_secs_f64()
                );
            }
        }
    }
    tx.commit().await.unwrap();
    pool.close().await;
    let load = started.elapsed();

    // Revocation commit latency: 1,000 revocations through the real path, one at a time.
    let valid = reader
        .certificates(&CertificateFilter {
            status: Some(CertificateStatus::Valid),
            limit: Some(1000),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut revoke_times = Vec::new();
    for cert in &valid {
        let serial = cert.serial.as_bytes().to_vec();
        let r = PreSignedResponse {
            sha256_key: [serial.clone(), serial.clone()].concat(),
            sha1_key: serial,
            der: response.clone(),
            this_update: now(),
            next_update: now().checked_add(Duration::from_secs(3600)).unwrap(),
        };
        let t = Instant::now();
        let mut tx = store.begin(now()).await.unwrap();
        tx.revoke_certificate(cert.id, RevocationReason::KeyCompromise, Some(&r), &actor)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        revoke_times.push(t.elapsed());
    }

    let t = Instant::now();
    let index = reader.load_lookup_index(now()).await.unwrap();
    let build = t.elapsed();
    assert_eq!(index.len(), assignments);
    let mut lookup_times = Vec::new();
    let mut hits = 0usize;
    for i in 0..10_000usize {
        let number = E164Number::parse(&format!(
            "33{:05}{:04}",
            (i * 7919) % assignments,
            i % 10_000
        ))
        .unwrap();
        let t = Instant::now();
        let answer = index.lookup_e164(&number, now());
        lookup_times.push(t.elapsed());
        hits += usize::from(!answer.is_empty());
    }
    assert_eq!(hits, 10_000);
    let db_size = size().await;
    store.close().await;
    format!(
        "| {label} | {:.1} s | {:.0} MiB | {} | {} | {:.2} s | {} | {} |",
        load.as_secs_f64(),
        db_size as f64 / 1048576.0,
        fmt(pct(&mut revoke_times, 50)),
        fmt(pct(&mut revoke_times, 99)),
        build.as_secs_f64(),
        fmt(pct(&mut lookup_times, 50)),
        fmt(pct(&mut lookup_times, 99)),
    )
}

fn with_mode(url: &str) -> String {
    if url.starts_with("sqlite:") && !url.contains("mode=") {
        format!("{url}?mode=rwc")
    } else {
        url.to_owned()
    }
}

fn pct(times: &mut [Duration], p: usize) -> Duration {
    times.sort();
    times[(times.len() * p / 100).min(times.len() - 1)]
}

fn fmt(d: Duration) -> String {
    if d < Duration::from_millis(1) {
        format!("{:.1} µs", d.as_secs_f64() * 1e6)
    } else {
        format!("{:.2} ms", d.as_secs_f64() * 1e3)
    }
}
