//! Embeds the message templates and re-runs when migrations or templates change.
use std::fmt::Write as _;

fn main() {
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-changed=messages");
    let mut names: Vec<String> = std::fs::read_dir("messages")
        .expect("messages/ exists")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".hbs"))
        .collect();
    names.sort();
    let mut out = String::from(
        "/// Every template in messages/, embedded at build time.\npub const TEMPLATES: &[(&str, &str)] = &[\n",
    );
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it");
    for n in names {
        let stem = n.trim_end_matches(".hbs");
        writeln!(
            out,
            "    ({stem:?}, include_str!({:?})),",
            format!("{dir}/messages/{n}")
        )
        .unwrap();
    }
    out.push_str("];\n");
    let path = std::path::Path::new(&std::env::var("OUT_DIR").expect("cargo sets it"))
        .join("templates.rs");
    std::fs::write(path, out).expect("write templates.rs");
}
