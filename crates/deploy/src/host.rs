//! Run an emitted C library on the host: compile it with the host C compiler in strict C99 mode
//! (which also proves the generated code is portable) and feed it samples through a pipe.
//!
//! This executes the portable kernel path (no DSP intrinsics), so comparing its outputs with
//! the firmware's checks that both paths agree bit for bit.
use crate::error::{DeployError, DeployResult};
use crate::mcu::IoSizes;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const HOST_MAIN_C: &str = include_str!("../c/host_main.c");

fn host_cc() -> DeployResult<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    ["cc", "gcc", "clang"]
        .iter()
        .flat_map(|t| std::env::split_paths(&path).map(move |d| d.join(t)))
        .find(|p| p.is_file())
        .ok_or_else(|| DeployError::ToolMissing {
            tool: "cc".into(),
            hint: "install a host C compiler (`apt-get install gcc`)".into(),
        })
}

/// Compiles the library in `dir` into `dir/host/run` (warnings are errors).
pub fn build_host(dir: &Path) -> DeployResult<PathBuf> {
    let cc = host_cc()?;
    let build = dir.join("host");
    std::fs::create_dir_all(&build).map_err(|e| DeployError::io(&build, e))?;
    let main = build.join("host_main.c");
    std::fs::write(&main, HOST_MAIN_C).map_err(|e| DeployError::io(&main, e))?;
    let mut sources: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| DeployError::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "c"))
        .collect();
    sources.sort();
    let exe = build.join("run");
    let mut cmd = Command::new(&cc);
    cmd.args([
        "-std=c99",
        "-O2",
        "-Wall",
        "-Wextra",
        "-pedantic",
        "-Werror",
        "-I",
    ])
    .arg(dir)
    .args(&sources)
    .arg(&main)
    .arg("-o")
    .arg(&exe);
    let out = cmd.output().map_err(|e| DeployError::io(&cc, e))?;
    if !out.status.success() {
        return Err(DeployError::Build {
            command: format!("{cmd:?}"),
            output: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    Ok(exe)
}

/// Runs every sample through the host build; same input/output convention as
/// [`crate::mcu_run`].
pub fn host_run(dir: &Path, inputs: &[&[u8]]) -> DeployResult<Vec<Vec<u8>>> {
    let io = IoSizes::read(dir)?;
    if inputs.len() != io.inputs.len() || io.inputs.first().is_none_or(|&b| b == 0) {
        return Err(DeployError::Invalid(format!(
            "model has {} inputs, {} given",
            io.inputs.len(),
            inputs.len()
        )));
    }
    let samples = inputs[0].len() / io.inputs[0];
    let mut feed = Vec::new();
    for s in 0..samples {
        for (buf, &b) in inputs.iter().zip(&io.inputs) {
            let chunk = buf.get(s * b..(s + 1) * b).ok_or_else(|| {
                DeployError::Invalid("input buffers hold different sample counts".into())
            })?;
            feed.extend_from_slice(chunk);
        }
    }
    let exe = build_host(dir)?;
    let mut child = Command::new(&exe)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| DeployError::io(&exe, e))?;
    let mut stdin = child
        .stdin
        .take()
        .ok_or_else(|| DeployError::Run("no stdin pipe".into()))?;
    let writer = std::thread::spawn(move || stdin.write_all(&feed));
    let out = child
        .wait_with_output()
        .map_err(|e| DeployError::io(&exe, e))?;
    let _ = writer.join();
    if !out.status.success() {
        return Err(DeployError::Run(format!(
            "host build exited with {}",
            out.status
        )));
    }
    let per: usize = io.outputs.iter().sum();
    if out.stdout.len() != per * samples {
        return Err(DeployError::Run(format!(
            "host build wrote {} bytes, expected {}",
            out.stdout.len(),
            per * samples
        )));
    }
    let mut outputs: Vec<Vec<u8>> = io.outputs.iter().map(|_| Vec::new()).collect();
    for s in 0..samples {
        let mut at = s * per;
        for (o, &b) in outputs.iter_mut().zip(&io.outputs) {
            o.extend_from_slice(&out.stdout[at..at + b]);
            at += b;
        }
    }
    Ok(outputs)
}
