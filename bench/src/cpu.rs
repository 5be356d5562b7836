//! Where the CPU went during a run, from `/proc`: each process's user+system
//! time and context switches (all its threads), and how busy the machine
//! was. A target that is not met needs this next to its figure: it says
//! whether the servers had cores to spare (something waits) or not (work,
//! or the load driver's share of the same cores, bounds it).

use std::time::{Duration, Instant};

/// One reading of one process.
#[derive(Debug, Clone, Copy, Default)]
struct Reading {
    cpu_ticks: u64,
    switches: u64,
}

/// What a process used between two readings.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    pub cpu: Duration,
    pub switches: u64,
}

/// Readings of several processes (and the machine) at the start of a run.
pub struct Meter {
    pids: Vec<u32>,
    start: Vec<Reading>,
    machine_busy: u64,
    machine_total: u64,
    started: Instant,
}

/// The result: per process, in the order given, plus the machine's busy share.
#[derive(Debug, Clone, Default)]
pub struct Accounting {
    pub processes: Vec<Usage>,
    /// Share of all cores' time spent busy (0–1).
    pub machine_busy: f64,
    pub elapsed: Duration,
}

impl Meter {
    pub fn start(pids: &[u32]) -> Self {
        let (machine_busy, machine_total) = machine();
        Self {
            pids: pids.to_vec(),
            start: pids.iter().map(|&p| read(p)).collect(),
            machine_busy,
            machine_total,
            started: Instant::now(),
        }
    }

    pub fn stop(self) -> Accounting {
        let (busy, total) = machine();
        let tick = Duration::from_secs(1) / ticks_per_second();
        let processes = self
            .pids
            .iter()
            .zip(&self.start)
            .map(|(&pid, before)| {
                let after = read(pid);
                Usage {
                    cpu: tick * after.cpu_ticks.saturating_sub(before.cpu_ticks) as u32,
                    switches: after.switches.saturating_sub(before.switches),
                }
            })
            .collect();
        let total = total.saturating_sub(self.machine_total);
        Accounting {
            processes,
            machine_busy: if total == 0 {
                0.0
            } else {
                busy.saturating_sub(self.machine_busy) as f64 / total as f64
            },
            elapsed: self.started.elapsed(),
        }
    }
}

/// Clock ticks per second of `/proc`'s CPU times (USER_HZ): 100 on Linux
/// for x86 and ARM alike.
fn ticks_per_second() -> u32 {
    100
}

fn read(pid: u32) -> Reading {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    Reading { cpu_ticks: cpu_ticks(&stat), switches: switches(pid) }
}

/// utime + stime, fields 14 and 15 of `/proc/PID/stat`; the command name
/// (field 2) may hold spaces, so count from its closing parenthesis.
fn cpu_ticks(stat: &str) -> u64 {
    let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else { return 0 };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After ")": field 3 is fields[0], so utime (14) is fields[11].
    let field = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    field(11) + field(12)
}

/// Voluntary and involuntary switches of every thread of the process.
fn switches(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return 0 };
    tasks
        .filter_map(Result::ok)
        .filter_map(|t| std::fs::read_to_string(t.path().join("status")).ok())
        .map(|status| {
            status
                .lines()
                .filter(|l| l.contains("ctxt_switches:"))
                .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .sum::<u64>()
        })
        .sum()
}

/// (busy, total) ticks of all cores from the first line of `/proc/stat`.
fn machine() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let total: u64 = ticks.iter().sum();
    // idle and iowait are fields 4 and 5 of "cpu  user nice system idle iowait …".
    let idle = ticks.get(3).copied().unwrap_or(0) + ticks.get(4).copied().unwrap_or(0);
    (total - idle, total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_utime_and_stime_past_a_command_name_with_spaces() {
        let stat = "42 (a b) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0";
        assert_eq!(cpu_ticks(stat), 300);
    }

    #[test]
    fn this_process_uses_cpu_and_switches() {
        let meter = Meter::start(&[std::process::id()]);
        let mut x = 0u64;
        let until = Instant::now() + Duration::from_millis(60);
        while Instant::now() < until {
            x = x.wrapping_add(std::hint::black_box(1));
        }
        std::thread::sleep(Duration::from_millis(5));
        let used = meter.stop();
        assert!(x > 0);
        assert!(used.processes[0].cpu > Duration::ZERO, "{used:?}");
        assert!(used.processes[0].switches > 0, "{used:?}");
        assert!(used.machine_busy > 0.0);
    }
}
