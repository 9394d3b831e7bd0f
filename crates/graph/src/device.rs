//! Device profiles: the microcontroller a model must fit (memory, clock, a speed factor).
//!
//! Built-ins cover the usual TinyML boards; any other board is a small TOML file:
//!
//! ```toml
//! name = "my_board"
//! core = "Cortex-M4F"
//! clock_hz = "64 MHz"        # or an integer: 64000000
//! flash_bytes = "1 MB"       # K/KB/KiB and M/MB/MiB are binary (1 KB = 1024 B), or an integer
//! sram_bytes = "256 KB"
//! cycles_per_mac = 2.5       # average core cycles per int8 multiply-accumulate
//! reserved_flash_bytes = 0   # optional: bootloader, radio stack, RTOS …
//! reserved_sram_bytes = 0    # optional
//! ```
//!
//! `cycles_per_mac` is an estimate for tinyforge's portable int8 kernels (SIMD-friendly C/Rust,
//! no vendor library), rounded from public MLPerf Tiny results: ≈2.5 on a Cortex-M4F (SMLAD
//! dual 16-bit MACs, minus loads and requantization), ≈1.2 on a Cortex-M7 (dual issue), ≈6 on a
//! Cortex-M0+ (no DSP extension), ≈2 on the ESP32-S3's LX7 without its vector unit. The fit
//! check turns it into a latency estimate; the QEMU instruction counts in `deploy` are the
//! measurement. Errors name the file and the field. Neighbours: [`crate::fit`] uses a
//! [`Device`]; the CLI resolves `--device` with [`Device::lookup`].
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{GraphError, GraphResult};

/// A target microcontroller.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Device {
    pub name: String,
    /// CPU core, e.g. "Cortex-M4F".
    pub core: String,
    pub clock_hz: u64,
    pub flash_bytes: u64,
    pub sram_bytes: u64,
    /// Average core cycles per int8 multiply-accumulate of tinyforge's kernels (an estimate).
    pub cycles_per_mac: f64,
    /// Flash not available to the model (bootloader, radio stack, RTOS).
    #[serde(default)]
    pub reserved_flash_bytes: u64,
    /// SRAM not available to the model.
    #[serde(default)]
    pub reserved_sram_bytes: u64,
}

const KB: u64 = 1024;
const MB: u64 = 1024 * 1024;

fn builtin(name: &str, core: &str, mhz: u64, flash: u64, sram: u64, cpm: f64) -> Device {
    Device {
        name: name.into(),
        core: core.into(),
        clock_hz: mhz * 1_000_000,
        flash_bytes: flash,
        sram_bytes: sram,
        cycles_per_mac: cpm,
        reserved_flash_bytes: 0,
        reserved_sram_bytes: 0,
    }
}

impl Device {
    /// The built-in profiles.
    pub fn builtins() -> Vec<Device> {
        vec![
            // Arduino Nano 33 BLE (Sense): nRF52840.
            builtin("nano33ble", "Cortex-M4F (nRF52840)", 64, MB, 256 * KB, 2.5),
            builtin("stm32f746", "Cortex-M7 (STM32F746)", 216, MB, 320 * KB, 1.2),
            builtin(
                "stm32h743",
                "Cortex-M7 (STM32H743)",
                480,
                2 * MB,
                512 * KB,
                1.2,
            ),
            // Raspberry Pi Pico: flash is the external 2 MB QSPI chip of the board.
            builtin("rp2040", "Cortex-M0+ (RP2040)", 133, 2 * MB, 264 * KB, 6.0),
            // ESP32-S3 modules: 8 MB external flash; 512 KB internal SRAM.
            builtin(
                "esp32s3",
                "Xtensa LX7 (ESP32-S3)",
                240,
                8 * MB,
                512 * KB,
                2.0,
            ),
        ]
    }

    /// A built-in profile by name (case-insensitive; `-`/`_` ignored).
    pub fn builtin(name: &str) -> Option<Device> {
        let norm = |s: &str| s.to_lowercase().replace(['-', '_'], "");
        let want = norm(name);
        Device::builtins()
            .into_iter()
            .find(|d| norm(&d.name) == want)
    }

    /// A built-in name, or else a path to a TOML profile.
    pub fn lookup(name_or_path: &str) -> GraphResult<Device> {
        if let Some(d) = Device::builtin(name_or_path) {
            return Ok(d);
        }
        let path = Path::new(name_or_path);
        if path.exists() || name_or_path.ends_with(".toml") {
            return Device::from_file(path);
        }
        let names: Vec<String> = Device::builtins().into_iter().map(|d| d.name).collect();
        Err(GraphError::Device(format!(
            "unknown device `{name_or_path}`: built-ins are {}, or give the path of a .toml profile",
            names.join(", ")
        )))
    }

    /// Loads a TOML profile; the name defaults to the file stem.
    pub fn from_file(path: &Path) -> GraphResult<Device> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| GraphError::Device(format!("cannot read {}: {e}", path.display())))?;
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        Device::from_toml(&text, &path.display().to_string(), &stem)
    }

    /// Parses a TOML profile; `origin` names it in errors, `default_name` is used without `name`.
    pub fn from_toml(text: &str, origin: &str, default_name: &str) -> GraphResult<Device> {
        let table: toml::Table = text
            .parse()
            .map_err(|e| GraphError::Device(format!("{origin}: not valid TOML: {e}")))?;
        let err = |field: &str, msg: String| GraphError::DeviceField {
            path: origin.into(),
            field: field.into(),
            msg,
        };
        const KNOWN: [&str; 8] = [
            "name",
            "core",
            "clock_hz",
            "flash_bytes",
            "sram_bytes",
            "cycles_per_mac",
            "reserved_flash_bytes",
            "reserved_sram_bytes",
        ];
        if let Some(k) = table.keys().find(|k| !KNOWN.contains(&k.as_str())) {
            return Err(err(
                k,
                format!("unknown field; expected one of {}", KNOWN.join(", ")),
            ));
        }
        let string = |field: &str, default: Option<&str>| -> GraphResult<String> {
            match table.get(field) {
                Some(toml::Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
                Some(v) => Err(err(field, format!("expected a non-empty string, got {v}"))),
                None => default
                    .map(str::to_owned)
                    .ok_or_else(|| err(field, "missing".into())),
            }
        };
        let quantity = |field: &str, unit: Unit, required: bool| -> GraphResult<u64> {
            match table.get(field) {
                Some(toml::Value::Integer(i)) if *i >= 0 => Ok(*i as u64),
                Some(toml::Value::String(s)) => parse_quantity(s, unit)
                    .ok_or_else(|| err(field, format!("cannot read `{s}` as {}", unit.describe()))),
                Some(v) => Err(err(field, format!("expected {}, got {v}", unit.describe()))),
                None if required => Err(err(field, "missing".into())),
                None => Ok(0),
            }
        };
        let cycles_per_mac = match table.get("cycles_per_mac") {
            Some(toml::Value::Float(f)) => *f,
            Some(toml::Value::Integer(i)) => *i as f64,
            Some(v) => return Err(err("cycles_per_mac", format!("expected a number, got {v}"))),
            None => return Err(err("cycles_per_mac", "missing".into())),
        };
        if !(cycles_per_mac.is_finite() && cycles_per_mac > 0.0) {
            return Err(err(
                "cycles_per_mac",
                format!("must be a positive number, got {cycles_per_mac}"),
            ));
        }
        let d = Device {
            name: string("name", Some(default_name).filter(|s| !s.is_empty()))?,
            core: string("core", None)?,
            clock_hz: quantity("clock_hz", Unit::Hertz, true)?,
            flash_bytes: quantity("flash_bytes", Unit::Bytes, true)?,
            sram_bytes: quantity("sram_bytes", Unit::Bytes, true)?,
            cycles_per_mac,
            reserved_flash_bytes: quantity("reserved_flash_bytes", Unit::Bytes, false)?,
            reserved_sram_bytes: quantity("reserved_sram_bytes", Unit::Bytes, false)?,
        };
        for (field, v) in [
            ("clock_hz", d.clock_hz),
            ("flash_bytes", d.flash_bytes),
            ("sram_bytes", d.sram_bytes),
        ] {
            if v == 0 {
                return Err(err(field, "must be greater than zero".into()));
            }
        }
        Ok(d)
    }

    /// The profile as TOML (round-trips through [`Device::from_toml`]).
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }

    /// Flash the model may use.
    pub fn usable_flash(&self) -> u64 {
        self.flash_bytes.saturating_sub(self.reserved_flash_bytes)
    }

    /// SRAM the model may use.
    pub fn usable_sram(&self) -> u64 {
        self.sram_bytes.saturating_sub(self.reserved_sram_bytes)
    }
}

#[derive(Clone, Copy)]
enum Unit {
    Bytes,
    Hertz,
}

impl Unit {
    fn describe(self) -> &'static str {
        match self {
            Unit::Bytes => "a byte count (e.g. 262144 or \"256 KB\")",
            Unit::Hertz => "a frequency (e.g. 64000000 or \"64 MHz\")",
        }
    }
}

/// "256 KB", "1MiB", "64 MHz", "1.5 GHz", "1000" → a count (binary prefixes for bytes, decimal
/// for hertz).
fn parse_quantity(s: &str, unit: Unit) -> Option<u64> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
        .unwrap_or(s.len());
    let (num, suffix) = s.split_at(split);
    let num: f64 = num.replace('_', "").parse().ok()?;
    let suffix = suffix.trim().to_lowercase();
    let mult: f64 = match unit {
        Unit::Bytes => match suffix.as_str() {
            "" | "b" => 1.0,
            "k" | "kb" | "kib" => 1024.0,
            "m" | "mb" | "mib" => 1024.0 * 1024.0,
            _ => return None,
        },
        Unit::Hertz => match suffix.as_str() {
            "" | "hz" => 1.0,
            "khz" => 1e3,
            "mhz" => 1e6,
            "ghz" => 1e9,
            _ => return None,
        },
    };
    let v = (num * mult).round();
    (v.is_finite() && v >= 0.0 && v < u64::MAX as f64).then_some(v as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_resolve() {
        let d = Device::lookup("nano33ble").unwrap();
        assert_eq!(d.sram_bytes, 256 * 1024);
        assert_eq!(d.clock_hz, 64_000_000);
        assert_eq!(Device::lookup("STM32-H743").unwrap().sram_bytes, 512 * 1024);
        for n in ["stm32f746", "rp2040", "esp32s3"] {
            assert_eq!(Device::lookup(n).unwrap().name, n);
        }
        let e = Device::lookup("arduino_uno").unwrap_err().to_string();
        assert!(e.contains("built-ins are nano33ble"), "{e}");
    }

    #[test]
    fn toml_profile_with_units() {
        let d = Device::from_toml(
            "core = \"Cortex-M33\"\nclock_hz = \"150 MHz\"\nflash_bytes = \"2 MB\"\n\
             sram_bytes = 524288\ncycles_per_mac = 2\nreserved_sram_bytes = \"8K\"\n",
            "board.toml",
            "board",
        )
        .unwrap();
        assert_eq!(d.name, "board");
        assert_eq!(d.clock_hz, 150_000_000);
        assert_eq!(d.flash_bytes, 2 * 1024 * 1024);
        assert_eq!(d.usable_sram(), 512 * 1024 - 8 * 1024);
        let back = Device::from_toml(&d.to_toml(), "x", "").unwrap();
        assert_eq!(back, d);
    }

    #[test]
    fn toml_errors_name_file_and_field() {
        let base = "core = \"M4\"\nclock_hz = 1\nflash_bytes = 1\nsram_bytes = 1\n";
        let e = Device::from_toml(base, "b.toml", "b")
            .unwrap_err()
            .to_string();
        assert!(e.contains("b.toml") && e.contains("`cycles_per_mac`") && e.contains("missing"));
        let e = Device::from_toml(&format!("{base}cycles_per_mac = -1\n"), "b.toml", "b")
            .unwrap_err()
            .to_string();
        assert!(e.contains("positive"), "{e}");
        let e = Device::from_toml(
            &format!("{base}cycles_per_mac = 1\nsram = 4\n"),
            "b.toml",
            "b",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("`sram`") && e.contains("unknown field"), "{e}");
        let e = Device::from_toml(
            "core = \"M4\"\nclock_hz = \"fast\"\nflash_bytes = 1\nsram_bytes = 1\ncycles_per_mac = 1",
            "b.toml",
            "b",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("`clock_hz`") && e.contains("fast"), "{e}");
        assert!(Device::from_toml("not toml [", "b.toml", "b").is_err());
        let e = Device::lookup("/nonexistent/board.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("/nonexistent/board.toml"), "{e}");
    }

    #[test]
    fn from_file_uses_stem() {
        let dir = std::env::temp_dir().join(format!("tf-device-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("myboard.toml");
        std::fs::write(
            &p,
            "core = \"M4\"\nclock_hz = 1000\nflash_bytes = 10\nsram_bytes = 10\ncycles_per_mac = 1.5",
        )
        .unwrap();
        let d = Device::lookup(p.to_str().unwrap()).unwrap();
        assert_eq!(d.name, "myboard");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn quantities() {
        assert_eq!(parse_quantity("256 KB", Unit::Bytes), Some(262_144));
        assert_eq!(parse_quantity("1MiB", Unit::Bytes), Some(1 << 20));
        assert_eq!(parse_quantity("1.5 GHz", Unit::Hertz), Some(1_500_000_000));
        assert_eq!(parse_quantity("64 parsecs", Unit::Hertz), None);
        assert_eq!(parse_quantity("", Unit::Bytes), None);
    }
}
