//! Build an emitted C library into firmware for an emulated Cortex-M4F and run it.
//!
//! The harness (linker script, startup, semihosting, test `main`, and an instruction-counting
//! QEMU TCG plugin) is embedded in this crate, so a release binary needs nothing but the
//! external tools: `arm-none-eabi-gcc` (+ newlib), `qemu-system-arm` (board `mps2-an386`,
//! Cortex-M4 with FPU and RAM at 0x20000000 like the nRF52840) and a host C compiler for the
//! plugin. `scripts/install-mcu-tools.sh` installs them on Debian 12.
//!
//! What is measured and how:
//! - instructions: exact guest instruction counts between the `bench_begin`/`bench_end`
//!   markers around each `tf_invoke()`, split per layer at `bench_layer` (QEMU models no
//!   cycles, caches or wait states, so time is not reported);
//! - flash = `.isr_vector + .text + .rodata + .ARM.exidx + .data` (load image), static RAM =
//!   `.data + .bss` (arena, scratch, harness statics), from `arm-none-eabi-size -A`;
//! - stack: the startup code paints the stack, the firmware reports the deepest word touched.
//!
//! The linker script is generated from the [`McuTarget`] so an image or static RAM that does not
//! fit the device fails the link. Inputs reach the firmware through a host file over
//! semihosting and outputs come back the same way, so flash holds only the model and harness.
use crate::error::{DeployError, DeployResult};
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tinyforge_graph::Device;

const LINK_LD: &str = include_str!("../mcu/link.ld.in");
const STARTUP_C: &str = include_str!("../mcu/startup.c");
const SEMIHOST_C: &str = include_str!("../mcu/semihost.c");
const SEMIHOST_H: &str = include_str!("../mcu/semihost.h");
const MAIN_C: &str = include_str!("../mcu/main.c");
const PLUGIN_C: &str = include_str!("../mcu/insncount.c");

/// How to get the tools, quoted in every "not found" error.
pub const INSTALL_HINT: &str = "install them with `sudo scripts/install-mcu-tools.sh` \
     (Debian 12: gcc-arm-none-eabi, libnewlib-arm-none-eabi, qemu-system-arm)";

/// The memory budget of a microcontroller, used for the linker script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct McuTarget {
    pub name: String,
    pub flash_bytes: usize,
    pub ram_bytes: usize,
    /// Stack reserved at the top of RAM (part of the static budget checked at link time).
    pub stack_bytes: usize,
}

impl McuTarget {
    /// Arduino Nano 33 BLE (nRF52840): 1 MB flash, 256 KB SRAM.
    pub fn nano33ble() -> Self {
        match Device::builtin("nano33ble") {
            Some(d) => McuTarget::from_device(&d),
            None => McuTarget {
                name: "nano33ble".into(),
                flash_bytes: 1024 * 1024,
                ram_bytes: 256 * 1024,
                stack_bytes: 16 * 1024,
            },
        }
    }

    /// The budget of a device profile (its usable flash and SRAM), for the emulated board.
    ///
    /// The mps2-an386 board maps 4 MB at each of the two regions, so larger budgets are capped
    /// there (an image that big could not be loaded anyway).
    pub fn from_device(device: &Device) -> McuTarget {
        const EMULATED: u64 = 4 * 1024 * 1024;
        let ram = device.usable_sram().min(EMULATED) as usize;
        McuTarget {
            name: device.name.clone(),
            flash_bytes: device.usable_flash().min(EMULATED) as usize,
            ram_bytes: ram,
            // a quarter of small parts' RAM, 16 KB otherwise: the kernels use a few hundred bytes
            stack_bytes: (ram / 4).clamp(1024, 16 * 1024) & !7,
        }
    }

    /// The linker script for this budget (origins of the mps2-an386 memory map).
    pub fn linker_script(&self) -> String {
        LINK_LD
            .replace("@DEVICE@", &self.name.replace("*/", ""))
            .replace("@FLASH_KB@", &(self.flash_bytes / 1024).to_string())
            .replace("@RAM_KB@", &(self.ram_bytes / 1024).to_string())
            .replace("@FLASH_BYTES@", &self.flash_bytes.to_string())
            .replace("@RAM_BYTES@", &self.ram_bytes.to_string())
            .replace("@STACK_BYTES@", &self.stack_bytes.to_string())
    }
}

/// Options of [`mcu_run_with`].
#[derive(Debug, Clone)]
pub struct McuOptions {
    pub target: McuTarget,
    /// Wall-clock limit for one QEMU run.
    pub timeout: Duration,
    /// Optimisation flag passed to the cross compiler.
    pub opt_level: String,
    /// Where the compiled plugin is cached (default: `$TINYFORGE_CACHE_DIR`, else the user
    /// cache dir, else the system temp dir).
    pub cache_dir: Option<PathBuf>,
}

impl Default for McuOptions {
    fn default() -> Self {
        McuOptions {
            target: McuTarget::nano33ble(),
            timeout: Duration::from_secs(60),
            opt_level: "-O2".into(),
            cache_dir: None,
        }
    }
}

/// Results of running a model on the emulated Cortex-M4F.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct McuReport {
    /// Instructions of one inference (the first sample).
    pub instructions: u64,
    /// Instructions of every inference, in sample order.
    pub instructions_per_sample: Vec<u64>,
    /// Instructions per layer of the first inference, in layer order (empty if the firmware
    /// was built without layer markers).
    pub layer_instructions: Vec<u64>,
    /// Image bytes in flash: vectors, code, constants, `.data` initialisers.
    pub flash_bytes: u64,
    /// Static RAM: `.data + .bss` (arena and scratch included; stack reservation excluded).
    pub ram_bytes: u64,
    /// Deepest stack use observed (bytes).
    pub stack_bytes: u64,
    pub samples: usize,
    /// One buffer per model output, all samples back to back.
    pub outputs: Vec<Vec<u8>>,
}

/// Input and output sizes of an emitted library (`tf_io.txt`, written by the emitters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IoSizes {
    pub inputs: Vec<usize>,
    pub outputs: Vec<usize>,
}

pub(crate) const IO_FILE: &str = "tf_io.txt";

pub(crate) fn io_manifest(inputs: &[usize], outputs: &[usize]) -> String {
    let mut s = String::from("# tinyforge model I/O: kind bytes (int8)\n");
    for b in inputs {
        s.push_str(&format!("input {b}\n"));
    }
    for b in outputs {
        s.push_str(&format!("output {b}\n"));
    }
    s
}

impl IoSizes {
    pub fn read(dir: &Path) -> DeployResult<IoSizes> {
        let path = dir.join(IO_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| DeployError::io(&path, e))?;
        let mut io = IoSizes {
            inputs: vec![],
            outputs: vec![],
        };
        for line in text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        {
            let mut it = line.split_whitespace();
            let (kind, n) = (it.next(), it.next().and_then(|v| v.parse::<usize>().ok()));
            match (kind, n) {
                (Some("input"), Some(n)) => io.inputs.push(n),
                (Some("output"), Some(n)) => io.outputs.push(n),
                _ => {
                    return Err(DeployError::Invalid(format!(
                        "{}: bad line {line:?}",
                        path.display()
                    )))
                }
            }
        }
        Ok(io)
    }
}

fn which(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}

fn require(tool: &str) -> DeployResult<PathBuf> {
    which(tool).ok_or_else(|| DeployError::ToolMissing {
        tool: tool.into(),
        hint: INSTALL_HINT.into(),
    })
}

/// The external programs a run needs.
#[derive(Debug, Clone)]
pub struct Toolchain {
    pub gcc: PathBuf,
    pub size: PathBuf,
    pub nm: PathBuf,
    pub qemu: PathBuf,
    pub host_cc: PathBuf,
}

impl Toolchain {
    /// Finds every tool on `PATH`; the error names the first missing one and how to install it.
    pub fn find() -> DeployResult<Toolchain> {
        Ok(Toolchain {
            gcc: require("arm-none-eabi-gcc")?,
            size: require("arm-none-eabi-size")?,
            nm: require("arm-none-eabi-nm")?,
            qemu: require("qemu-system-arm")?,
            host_cc: which("cc").or_else(|| which("gcc")).ok_or_else(|| {
                DeployError::ToolMissing {
                    tool: "cc (host C compiler, for the QEMU plugin)".into(),
                    hint: "install gcc (`apt-get install gcc`)".into(),
                }
            })?,
        })
    }
}

/// True when everything [`mcu_run`] needs is installed.
pub fn tools_available() -> bool {
    Toolchain::find().is_ok()
}

fn run_checked(cmd: &mut Command) -> DeployResult<String> {
    let shown = format!("{cmd:?}");
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| DeployError::Build {
            command: shown.clone(),
            output: e.to_string(),
        })?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() {
        return Err(DeployError::Build {
            command: shown,
            output: text,
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn cache_dir(opts: &McuOptions) -> PathBuf {
    if let Some(d) = &opts.cache_dir {
        return d.clone();
    }
    if let Some(d) = std::env::var_os("TINYFORGE_CACHE_DIR") {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(d).join("tinyforge");
    }
    if let Some(h) = std::env::var_os("HOME") {
        return PathBuf::from(h).join(".cache").join("tinyforge");
    }
    std::env::temp_dir().join("tinyforge-cache")
}

/// Compiles the counting plugin once per source version into the cache dir.
pub fn plugin_path(tools: &Toolchain, opts: &McuOptions) -> DeployResult<PathBuf> {
    let mut h = DefaultHasher::new();
    PLUGIN_C.hash(&mut h);
    let dir = cache_dir(opts);
    let so = dir.join(format!("insncount-{:016x}.so", h.finish()));
    if so.is_file() {
        return Ok(so);
    }
    std::fs::create_dir_all(&dir).map_err(|e| DeployError::io(&dir, e))?;
    let src = dir.join(format!("insncount-{}.c", std::process::id()));
    std::fs::write(&src, PLUGIN_C).map_err(|e| DeployError::io(&src, e))?;
    // build under a private name, then rename: concurrent runs never see a partial file
    let tmp = dir.join(format!("insncount-{}.so.tmp", std::process::id()));
    run_checked(
        Command::new(&tools.host_cc)
            .args(["-O2", "-shared", "-fPIC", "-o"])
            .arg(&tmp)
            .arg(&src),
    )?;
    let _ = std::fs::remove_file(&src);
    std::fs::rename(&tmp, &so).map_err(|e| DeployError::io(&so, e))?;
    Ok(so)
}

/// Section sizes of an ELF: (flash, static RAM).
pub fn elf_sizes(tools: &Toolchain, elf: &Path) -> DeployResult<(u64, u64)> {
    let out = run_checked(Command::new(&tools.size).args(["-A", "-d"]).arg(elf))?;
    let (mut flash, mut ram) = (0u64, 0u64);
    for line in out.lines() {
        let mut it = line.split_whitespace();
        let (Some(name), Some(size)) = (it.next(), it.next().and_then(|s| s.parse::<u64>().ok()))
        else {
            continue;
        };
        match name {
            ".isr_vector" | ".text" | ".rodata" | ".ARM.exidx" => flash += size,
            ".data" => {
                flash += size;
                ram += size
            }
            ".bss" => ram += size,
            _ => {}
        }
    }
    Ok((flash, ram))
}

/// Compiles the library in `dir` with the harness into `dir/mcu/prog.elf`.
pub fn build_firmware(dir: &Path, tools: &Toolchain, opts: &McuOptions) -> DeployResult<PathBuf> {
    let build = dir.join("mcu");
    std::fs::create_dir_all(&build).map_err(|e| DeployError::io(&build, e))?;
    let files = [
        ("link.ld", opts.target.linker_script()),
        ("startup.c", STARTUP_C.to_string()),
        ("semihost.c", SEMIHOST_C.to_string()),
        ("semihost.h", SEMIHOST_H.to_string()),
        ("main.c", MAIN_C.to_string()),
    ];
    for (name, text) in &files {
        let p = build.join(name);
        std::fs::write(&p, text).map_err(|e| DeployError::io(&p, e))?;
    }
    let mut sources: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| DeployError::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "c"))
        .collect();
    sources.sort();
    if !sources.iter().any(|p| p.ends_with("tf_model.c")) {
        return Err(DeployError::Invalid(format!(
            "{} holds no emitted tf_model.c",
            dir.display()
        )));
    }
    let arch = [
        "-mcpu=cortex-m4",
        "-mthumb",
        "-mfpu=fpv4-sp-d16",
        "-mfloat-abi=hard",
    ];
    // The harness is not what is measured: build it for size, apart from the model.
    let mut objs = Vec::new();
    for f in ["startup.c", "semihost.c", "main.c"] {
        let obj = build.join(f.replace(".c", ".o"));
        run_checked(
            Command::new(&tools.gcc)
                .args(arch)
                .args([
                    "-Os",
                    "-g",
                    "-std=gnu11",
                    "-Wall",
                    "-ffunction-sections",
                    "-fdata-sections",
                    "-fno-tree-loop-distribute-patterns",
                    "-c",
                ])
                .arg("-I")
                .arg(dir)
                .arg("-I")
                .arg(&build)
                .arg(build.join(f))
                .arg("-o")
                .arg(&obj),
        )?;
        objs.push(obj);
    }
    let elf = build.join("prog.elf");
    let mut cmd = Command::new(&tools.gcc);
    cmd.args(arch)
        .args([
            opts.opt_level.as_str(),
            "-g",
            "-std=gnu11",
            "-Wall",
            "-ffunction-sections",
            "-fdata-sections",
            "-DTF_BENCH_LAYERS",
        ])
        .arg("-I")
        .arg(dir)
        .args(&sources)
        .args(&objs)
        .arg("-T")
        .arg(build.join("link.ld"))
        .args([
            "-nostartfiles",
            "--specs=nano.specs",
            "--specs=nosys.specs",
            "-Wl,--gc-sections",
        ])
        .arg(format!("-Wl,-Map={}", build.join("prog.map").display()))
        .arg("-o")
        .arg(&elf);
    run_checked(&mut cmd)?;
    Ok(elf)
}

fn symbol(nm_out: &str, name: &str) -> Option<u64> {
    nm_out.lines().find_map(|l| {
        let mut it = l.split_whitespace();
        let (addr, _kind, sym) = (it.next()?, it.next()?, it.next()?);
        (sym == name)
            .then(|| u64::from_str_radix(addr, 16).ok())
            .flatten()
    })
}

/// Builds and runs the emitted library in `dir` with the default options (nano33ble budget).
///
/// `inputs` holds one buffer per model input, each with N samples back to back (the layout of
/// the reference `.bin` files); every sample is run once.
pub fn mcu_run(dir: &Path, inputs: &[&[u8]]) -> DeployResult<McuReport> {
    mcu_run_with(dir, inputs, &McuOptions::default())
}

/// [`mcu_run`] with explicit options.
pub fn mcu_run_with(dir: &Path, inputs: &[&[u8]], opts: &McuOptions) -> DeployResult<McuReport> {
    // QEMU runs inside the build folder, so every path handed to it and to the plugin must be
    // absolute: a relative `dir` would otherwise be resolved twice.
    let dir = &std::path::absolute(dir).map_err(|e| DeployError::io(dir, e))?;
    let tools = Toolchain::find()?;
    let io = IoSizes::read(dir)?;
    if inputs.len() != io.inputs.len() {
        return Err(DeployError::Invalid(format!(
            "model has {} inputs, {} given",
            io.inputs.len(),
            inputs.len()
        )));
    }
    let samples = match io.inputs.first() {
        Some(&b) if b > 0 => inputs[0].len() / b,
        _ => return Err(DeployError::Invalid("model input of 0 bytes".into())),
    };
    for (buf, &b) in inputs.iter().zip(&io.inputs) {
        if buf.len() != samples * b || samples == 0 {
            return Err(DeployError::Invalid(format!(
                "input buffers must hold the same whole number of samples ({} bytes each), got {}",
                b,
                buf.len()
            )));
        }
    }
    let elf = build_firmware(dir, &tools, opts)?;
    let build = elf.parent().unwrap_or(dir).to_path_buf();
    let plugin = plugin_path(&tools, opts)?;
    let nm = run_checked(Command::new(&tools.nm).arg(&elf))?;
    let addr = |s: &str| {
        symbol(&nm, s).ok_or_else(|| DeployError::Run(format!("symbol {s} missing from the ELF")))
    };
    let (begin, end, mark) = (
        addr("bench_begin")?,
        addr("bench_end")?,
        addr("bench_layer")?,
    );

    // samples interleaved: all inputs of sample 0, then of sample 1, …
    let mut feed = Vec::with_capacity(samples * io.inputs.iter().sum::<usize>());
    for s in 0..samples {
        for (buf, &b) in inputs.iter().zip(&io.inputs) {
            feed.extend_from_slice(&buf[s * b..(s + 1) * b]);
        }
    }
    let in_path = build.join("tf_in.bin");
    std::fs::write(&in_path, &feed).map_err(|e| DeployError::io(&in_path, e))?;
    for f in ["tf_out.bin", "semihost.txt", "count.txt"] {
        let _ = std::fs::remove_file(build.join(f));
    }
    let count_path = build.join("count.txt");
    let mut child = Command::new(&tools.qemu)
        .current_dir(&build)
        .args([
            "-M",
            "mps2-an386",
            "-cpu",
            "cortex-m4",
            "-display",
            "none",
            "-monitor",
            "none",
            "-serial",
            "none",
            "-chardev",
            "file,id=sh0,path=semihost.txt",
            "-semihosting-config",
            "enable=on,target=native,chardev=sh0",
            "-kernel",
        ])
        .arg(&elf)
        .arg("-plugin")
        .arg(format!(
            "{},begin={begin:#x},end={end:#x},mark={mark:#x},out={}",
            plugin.display(),
            count_path.display()
        ))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| DeployError::Run(format!("cannot start {}: {e}", tools.qemu.display())))?;
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break st,
            Ok(None) if started.elapsed() > opts.timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(DeployError::Run(format!(
                    "QEMU did not finish within {:?} (firmware hung?)",
                    opts.timeout
                )));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(DeployError::Run(format!("waiting for QEMU: {e}"))),
        }
    };
    let console = std::fs::read_to_string(build.join("semihost.txt")).unwrap_or_default();
    if !status.success() {
        let mut stderr = String::new();
        if let Some(mut e) = child.stderr.take() {
            use std::io::Read;
            let _ = e.read_to_string(&mut stderr);
        }
        let why = match status.code() {
            Some(127) => "the firmware hit a fault handler".to_string(),
            Some(c) => format!("exit status {c}"),
            None => "killed by a signal".to_string(),
        };
        return Err(DeployError::Run(format!(
            "{why}; firmware said: {}; qemu said: {}",
            console.trim(),
            stderr.trim()
        )));
    }
    let kv = |key: &str| {
        console.lines().find_map(|l| {
            l.strip_prefix(key)
                .and_then(|r| r.strip_prefix('='))
                .and_then(|v| v.trim().parse::<u64>().ok())
        })
    };
    let ran = kv("samples").unwrap_or(0) as usize;
    if ran != samples {
        return Err(DeployError::Run(format!(
            "{samples} samples sent, firmware reported {ran}: {}",
            console.trim()
        )));
    }
    let counts =
        std::fs::read_to_string(&count_path).map_err(|e| DeployError::io(&count_path, e))?;
    let regions: Vec<Vec<u64>> = counts
        .lines()
        .filter_map(|l| l.strip_prefix("region "))
        .map(|l| {
            l.split_whitespace()
                .filter_map(|v| v.parse().ok())
                .collect()
        })
        .collect();
    if regions.len() != samples || regions.iter().any(|r| r.is_empty()) {
        return Err(DeployError::Run(format!(
            "instruction counter saw {} inferences, expected {samples}",
            regions.len()
        )));
    }
    let instructions_per_sample: Vec<u64> = regions.iter().map(|r| r[0]).collect();
    // region: total, then segments [before layer 0, layer 0, …, last layer]
    let layer_instructions = regions[0].get(2..).map(<[u64]>::to_vec).unwrap_or_default();

    let out_path = build.join("tf_out.bin");
    let raw = std::fs::read(&out_path).map_err(|e| DeployError::io(&out_path, e))?;
    let per_sample: usize = io.outputs.iter().sum();
    if raw.len() != per_sample * samples {
        return Err(DeployError::Run(format!(
            "firmware wrote {} output bytes, expected {}",
            raw.len(),
            per_sample * samples
        )));
    }
    let mut outputs: Vec<Vec<u8>> = io
        .outputs
        .iter()
        .map(|&b| Vec::with_capacity(b * samples))
        .collect();
    for s in 0..samples {
        let mut at = s * per_sample;
        for (o, &b) in outputs.iter_mut().zip(&io.outputs) {
            o.extend_from_slice(&raw[at..at + b]);
            at += b;
        }
    }
    let (flash_bytes, ram_bytes) = elf_sizes(&tools, &elf)?;
    Ok(McuReport {
        instructions: instructions_per_sample[0],
        instructions_per_sample,
        layer_instructions,
        flash_bytes,
        ram_bytes,
        stack_bytes: kv("stack_bytes").unwrap_or(0),
        samples,
        outputs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nano33ble_budget_comes_from_the_device_profile() {
        let t = McuTarget::nano33ble();
        assert_eq!((t.flash_bytes, t.ram_bytes), (1024 * 1024, 256 * 1024));
        let ld = t.linker_script();
        assert!(ld.contains("LENGTH = 1048576") && ld.contains("LENGTH = 262144"));
        assert!(ld.contains(". = . + 16384;"));
        assert!(!ld.contains('@'), "unreplaced placeholder in\n{ld}");
    }

    #[test]
    fn big_devices_are_capped_to_the_emulated_board() {
        let d = Device::builtin("esp32s3").unwrap();
        let t = McuTarget::from_device(&d);
        assert_eq!(t.flash_bytes, 4 * 1024 * 1024);
    }

    #[test]
    fn io_manifest_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(IO_FILE), io_manifest(&[490, 3], &[12])).unwrap();
        let io = IoSizes::read(dir.path()).unwrap();
        assert_eq!((io.inputs, io.outputs), (vec![490, 3], vec![12]));
        std::fs::write(dir.path().join(IO_FILE), "input x\n").unwrap();
        assert!(IoSizes::read(dir.path()).is_err());
    }

    #[test]
    fn symbols_are_read_from_nm_output() {
        let nm = "000004d0 T bench_begin\n000004d4 T bench_end\n20000000 b tf_arena\n";
        assert_eq!(symbol(nm, "bench_end"), Some(0x4d4));
        assert_eq!(symbol(nm, "bench_layer"), None);
    }
}
