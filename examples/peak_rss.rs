//! Runs a command and writes its peak resident memory and wall time, for the `bench/` scripts.
//!
//!   peak_rss OUT_FILE COMMAND [ARGS...]
//!
//! Writes `<peak RSS in KiB> <wall nanoseconds> <exit code> <CPU microseconds>` to OUT_FILE; the command's
//! standard streams are this program's. Why not Python's `os.wait4`: Python starts children with
//! `vfork`, and the kernel then counts the parent's own peak (some 14 MiB of Python) in the
//! child's `ru_maxrss`, which hid every figure below it. This program is small, so what it
//! starts is measured from about 2 MiB.

use std::error::Error;
use std::process::Command;
use std::time::Instant;

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args_os().skip(1);
    let (Some(out), Some(cmd)) = (args.next(), args.next()) else {
        return Err("usage: peak_rss OUT_FILE COMMAND [ARGS...]".into());
    };
    let start = Instant::now();
    let status = Command::new(cmd).args(args).status()?;
    let wall = start.elapsed();
    // SAFETY: getrusage only writes the struct it is given.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) != 0 {
            return Err(std::io::Error::last_os_error().into());
        }
        usage
    };
    let code = status.code().unwrap_or(-1);
    let micros = |t: libc::timeval| i128::from(t.tv_sec) * 1_000_000 + i128::from(t.tv_usec);
    let cpu = micros(usage.ru_utime) + micros(usage.ru_stime);
    std::fs::write(
        out,
        format!("{} {} {code} {cpu}\n", usage.ru_maxrss, wall.as_nanos()),
    )?;
    Ok(())
}
