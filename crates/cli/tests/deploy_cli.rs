//! End-to-end tests of `tinyforge deploy` and `tinyforge mcu-run`: every format is generated
//! with the files it promises, a model that does not fit gets an error with the numbers, and on
//! the emulated Cortex-M4F the reference models give the reference bytes and match the host
//! runtime. Without the ARM compiler and QEMU the emulator tests print a SKIPPED line and pass,
//! unless `TINYFORGE_REQUIRE_TOOLS=1`, where they fail; `mcu-run` itself then fails with the
//! install instructions (checked here with an empty PATH).
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tinyforge"))
}

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}

fn model(name: &str) -> PathBuf {
    testdata().join("models").join(format!("{name}.tflite"))
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn tools_or_skip() -> bool {
    if tinyforge_deploy::tools_available() {
        return true;
    }
    if std::env::var("TINYFORGE_REQUIRE_TOOLS").as_deref() == Ok("1") {
        panic!("arm-none-eabi-gcc/qemu-system-arm not found and TINYFORGE_REQUIRE_TOOLS=1");
    }
    eprintln!("SKIPPED: arm-none-eabi-gcc/qemu-system-arm not found");
    false
}

fn deploy(name: &str, format: &str, out: &Path) -> Output {
    bin()
        .arg("deploy")
        .arg(model(name))
        .args(["--target", "nano33ble", "--format", format, "--out"])
        .arg(out)
        .output()
        .unwrap()
}

#[test]
fn deploy_writes_each_format_and_records_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let c = dir.path().join("c");
    let o = deploy("kws_ref_model", "c", &c);
    assert!(o.status.success(), "{}", text(&o));
    for f in ["tf_model.c", "tf_model.h", "tf_kernels.c", "tf_kernels.h"] {
        assert!(c.join(f).is_file(), "{f} missing");
    }
    assert_eq!(
        std::fs::read(c.join("model.tflite")).unwrap(),
        std::fs::read(model("kws_ref_model")).unwrap()
    );
    let m: Value =
        serde_json::from_str(&std::fs::read_to_string(c.join("tinyforge-deploy.json")).unwrap())
            .unwrap();
    assert_eq!(m["format"], "c");
    assert!(m["macs"].as_u64().unwrap() > 2_000_000, "{m}");
    assert!(!m["layers"].as_array().unwrap().is_empty());

    let a = dir.path().join("arduino");
    let o = deploy("kws_ref_model", "arduino", &a);
    assert!(o.status.success(), "{}", text(&o));
    assert!(a.join("library.properties").is_file());
    assert!(a.join("src/tf_model.c").is_file());
    let examples: Vec<_> = std::fs::read_dir(a.join("examples")).unwrap().collect();
    assert_eq!(examples.len(), 1);

    let r = dir.path().join("rust");
    let o = deploy("hello_world_int8", "rust", &r);
    assert!(o.status.success(), "{}", text(&o));
    let cargo = std::fs::read_to_string(r.join("Cargo.toml")).unwrap();
    assert!(cargo.contains("tinyforge-kernels"), "{cargo}");
    // a Rust crate is not something mcu-run builds: a clear error, not a crash
    let o = bin()
        .arg("mcu-run")
        .arg(&r)
        .arg("--input")
        .arg(testdata().join("reference/hello_world_int8/random_input0.bin"))
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(text(&o).contains("rust deployment"), "{}", text(&o));
}

#[test]
fn deploy_errors_name_the_file_and_the_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.tflite");
    let o = bin()
        .arg("deploy")
        .arg(&missing)
        .args(["--format", "c", "--out"])
        .arg(dir.path().join("x"))
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(text(&o).contains("nope.tflite"), "{}", text(&o));

    // VWW needs ~300 KB of flash and ~60 KB of SRAM: not on a 64 KB part
    let small = dir.path().join("small.toml");
    std::fs::write(
        &small,
        "name = \"small\"\ncore = \"Cortex-M4F\"\nclock_hz = 48000000\nflash_bytes = 65536\n\
         sram_bytes = 16384\ncycles_per_mac = 2.5\n",
    )
    .unwrap();
    let o = bin()
        .arg("deploy")
        .arg(model("vww_96_int8"))
        .arg("--target")
        .arg(&small)
        .args(["--format", "c", "--out"])
        .arg(dir.path().join("y"))
        .output()
        .unwrap();
    assert!(!o.status.success());
    let t = text(&o);
    assert!(
        t.contains("does not fit small") && t.contains("flash: needs") && t.contains("SRAM"),
        "{t}"
    );
    assert!(!t.contains("panicked"), "{t}");
}

#[test]
fn mcu_run_without_tools_says_how_to_install_them() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("hello");
    let o = deploy("hello_world_int8", "c", &out);
    assert!(o.status.success(), "{}", text(&o));
    let empty = tempfile::tempdir().unwrap();
    let o = bin()
        .env("PATH", empty.path())
        .arg("mcu-run")
        .arg(&out)
        .arg("--input")
        .arg(testdata().join("reference/hello_world_int8/random_input0.bin"))
        .output()
        .unwrap();
    assert!(!o.status.success());
    let t = text(&o);
    assert!(
        t.contains("not found") && t.contains("scripts/install-mcu-tools.sh"),
        "{t}"
    );
}

/// deploy → mcu-run --json on one reference set; checks the JSON and the output bytes.
fn deploy_and_run(name: &str, format: &str, set: &str, expected: &str) {
    if !tools_or_skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join(name);
    let o = deploy(name, format, &out);
    assert!(o.status.success(), "{}", text(&o));
    let refs = testdata().join("reference").join(name);
    let result = dir.path().join("out.bin");
    let o = bin()
        .arg("mcu-run")
        .arg(&out)
        .arg("--input")
        .arg(refs.join(format!("{set}_input0.bin")))
        .arg("--output")
        .arg(&result)
        .arg("--json")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let v: Value = serde_json::from_slice(&o.stdout).expect("one JSON object");
    eprintln!("RESULT {name}: {v}");
    assert_eq!(v["outputs_match"], true, "{v}");
    for key in ["instructions", "flash_bytes", "ram_bytes", "stack_bytes"] {
        assert!(v[key].as_u64().unwrap_or(0) > 0, "{key}: {v}");
    }
    assert!(v["macs_per_instruction"].as_f64().unwrap() > 0.0, "{v}");
    assert!(!v["layers"].as_array().unwrap().is_empty(), "{v}");
    assert_eq!(
        std::fs::read(&result).unwrap(),
        std::fs::read(refs.join(expected)).unwrap(),
        "{name}: device output differs from the reference"
    );
}

#[test]
fn kws_on_the_emulated_cortex_m4_gives_the_reference_bytes() {
    deploy_and_run("kws_ref_model", "c", "random", "random_output0.bin");
}

#[test]
fn hello_world_arduino_library_on_the_emulated_cortex_m4_gives_the_reference_bytes() {
    deploy_and_run(
        "hello_world_int8",
        "arduino",
        "sweep",
        "sweep_output0_tflm.bin",
    );
}

#[test]
fn mcu_run_text_report_lists_layers() {
    if !tools_or_skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("hello");
    let o = deploy("hello_world_int8", "c", &out);
    assert!(o.status.success(), "{}", text(&o));
    let o = bin()
        .arg("mcu-run")
        .arg(&out)
        .arg("--input")
        .arg(testdata().join("reference/hello_world_int8/random_input0.bin"))
        .output()
        .unwrap();
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    for want in [
        "instructions/inference",
        "MAC/instruction",
        "flash",
        "static RAM",
        "stack high-water",
        "outputs match host runtime: yes",
        "FULLY_CONNECTED",
    ] {
        assert!(t.contains(want), "{want} missing in\n{t}");
    }
}
