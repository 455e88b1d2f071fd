//! CPU time of processes, from the kernel's own accounting in
//! `/proc/<pid>/stat` (`utime` + `stime`, in clock ticks, all threads).

/// The fields of one `/proc/<pid>/stat` line the bench reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    /// The process id.
    pub pid: u32,
    /// Its parent.
    pub ppid: u32,
    /// User-mode CPU time, in clock ticks.
    pub utime: u64,
    /// Kernel-mode CPU time, in clock ticks.
    pub stime: u64,
}

impl Stat {
    /// User plus kernel time, in clock ticks.
    pub fn ticks(&self) -> u64 {
        self.utime + self.stime
    }
}

/// Parses one `/proc/<pid>/stat` line. The command name (field 2) is in
/// parentheses and may itself hold spaces and parentheses, so the fields
/// are counted from the last `)`.
pub fn parse(line: &str) -> Option<Stat> {
    let (head, rest) = line.rsplit_once(')')?;
    let pid = head.split_once('(')?.0.trim().parse().ok()?;
    // After the name: state (field 3), ppid (4), … utime (14), stime (15).
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok());
    Some(Stat {
        pid,
        ppid: u32::try_from(field(4)?).ok()?,
        utime: field(14)?,
        stime: field(15)?,
    })
}

/// The stat of one process, if it is alive.
pub fn read(pid: u32) -> Option<Stat> {
    parse(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// CPU ticks of these processes, each its own: a proxy lists its master
/// and its workers, so no process is counted twice. A process that is gone
/// counts nothing.
pub fn ticks_of(pids: &[u32]) -> u64 {
    pids.iter()
        .filter_map(|pid| read(*pid))
        .map(|s| s.ticks())
        .sum()
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 on every Linux the bench
/// has met, which is the fallback).
pub fn ticks_per_second() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| text.trim().parse().ok())
        .filter(|&t| t > 0)
        .unwrap_or(100)
}

/// The children's user and system seconds from a POSIX shell's `times`
/// output: the last line made of exactly two `<m>m<s>s` fields (`times`
/// prints the shell's own line, then its children's).
pub fn parse_times(output: &str) -> Option<f64> {
    let seconds = |field: &str| -> Option<f64> {
        let (minutes, rest) = field.split_once('m')?;
        let secs = rest.strip_suffix('s')?;
        Some(minutes.parse::<f64>().ok()? * 60.0 + secs.parse::<f64>().ok()?)
    };
    output.lines().rev().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields.as_slice() {
            [user, system] => Some(seconds(user)? + seconds(system)?),
            _ => None,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_stat_line_whose_name_has_spaces_and_parentheses() {
        let line = "4242 (tokio (worker) 1) S 17 4242 17 0 -1 4194304 1200 0 0 0 \
                    731 52 0 0 20 0 3 0 123456 1000000 500 18446744073709551615";
        let stat = parse(line).expect("parses");
        assert_eq!(
            stat,
            Stat {
                pid: 4242,
                ppid: 17,
                utime: 731,
                stime: 52
            }
        );
        assert_eq!(stat.ticks(), 783);
        assert_eq!(parse("garbage"), None);
        assert_eq!(parse("12 (x) S 1 2"), None);
    }

    #[test]
    fn our_own_stat_reads() {
        let me = read(std::process::id()).expect("/proc/self is readable");
        assert_eq!(me.pid, std::process::id());
        assert!(ticks_of(&[me.pid]) >= me.ticks());
        assert_eq!(ticks_of(&[u32::MAX]), 0);
    }

    #[test]
    fn shell_times_give_the_childrens_seconds() {
        let out = "     90%    1.20ms\n0m0.001000s 0m0.002000s\n1m2.500000s 0m0.250000s\n";
        let seconds = parse_times(out).expect("parses");
        assert!((seconds - 62.75).abs() < 1e-9);
        assert_eq!(parse_times("nothing"), None);
    }
}
