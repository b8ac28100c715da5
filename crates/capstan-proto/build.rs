//! Compiles every `.proto` file under the workspace's `proto/` directory.
//!
//! No system `protoc` is needed: `protox` (a protobuf compiler in pure Rust) parses the
//! files into a `FileDescriptorSet`, which `tonic-prost-build` turns into prost messages
//! and tonic clients and servers. The encoded descriptor set is written next to the
//! generated code so servers can serve gRPC reflection.

use std::{
    env,
    error::Error,
    fs,
    path::{Path, PathBuf},
};

use prost::Message as _;

/// File name, under `OUT_DIR`, of the encoded descriptor set (see `FILE_DESCRIPTOR_SET`).
const DESCRIPTOR_SET_FILE: &str = "capstan_descriptor_set.bin";

fn main() -> Result<(), Box<dyn Error>> {
    let manifest_dir =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").ok_or("CARGO_MANIFEST_DIR is not set")?);
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").ok_or("OUT_DIR is not set")?);
    let proto_root = manifest_dir.join("../../proto").canonicalize()?;

    // A directory is scanned recursively by cargo, so added files count too.
    println!("cargo:rerun-if-changed={}", proto_root.display());

    let mut files = Vec::new();
    collect_protos(&proto_root, &proto_root, &mut files)?;
    files.sort();
    if files.is_empty() {
        return Err(format!("no .proto files under {}", proto_root.display()).into());
    }

    // Source info is kept: it carries the proto comments into the generated docs and
    // into reflection answers. Imports (google/protobuf/*) are included so reflection
    // clients can resolve every type.
    let fds = protox::compile(&files, [&proto_root]).map_err(|err| {
        // protox's message alone does not always say which file is wrong.
        format!("{}: {err}", err.file().unwrap_or("proto/"))
    })?;
    fs::write(out_dir.join(DESCRIPTOR_SET_FILE), fds.encode_to_vec())?;

    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    Ok(())
}

/// Collects the paths of all `.proto` files under `dir`, relative to `root` (which is
/// how protox names them and how they import each other).
fn collect_protos(root: &Path, dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), Box<dyn Error>> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_protos(root, &path, files)?;
        } else if path.extension().is_some_and(|ext| ext == "proto") {
            files.push(path.strip_prefix(root)?.to_path_buf());
        }
    }
    Ok(())
}
