//! The lab's initramfs: a `newc` cpio archive written here (no root needed
//! for the device node the kernel wants) holding busybox, the compiled
//! reproducers and a shell init that runs them between markers.

use std::io::Write;

/// One archive member.
#[derive(Clone, Debug)]
pub enum Entry {
    /// A directory.
    Dir {
        /// Path inside the archive, without a leading slash.
        path: String,
    },
    /// A regular file.
    File {
        /// Path inside the archive.
        path: String,
        /// Permission bits (e.g. 0o755).
        mode: u32,
        /// Contents.
        data: Vec<u8>,
    },
    /// A symbolic link.
    Symlink {
        /// Path inside the archive.
        path: String,
        /// Where it points.
        target: String,
    },
    /// A character device node.
    CharDev {
        /// Path inside the archive.
        path: String,
        /// Major number.
        major: u32,
        /// Minor number.
        minor: u32,
    },
}

fn header(
    out: &mut Vec<u8>,
    ino: u32,
    mode: u32,
    nlink: u32,
    size: usize,
    rdev: (u32, u32),
    name: &str,
) {
    let namesize = name.len() + 1;
    let fields = [
        ino,
        mode,
        0, // uid
        0, // gid
        nlink,
        0, // mtime: fixed, so the archive is reproducible
        size as u32,
        0, // devmajor
        0, // devminor
        rdev.0,
        rdev.1,
        namesize as u32,
        0, // check
    ];
    out.extend_from_slice(b"070701");
    for f in fields {
        out.extend_from_slice(format!("{f:08x}").as_bytes());
    }
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    pad4(out);
}

fn pad4(out: &mut Vec<u8>) {
    while out.len() % 4 != 0 {
        out.push(0);
    }
}

/// The archive of `entries`, in order, with the trailer.
pub fn newc(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let ino = i as u32 + 1;
        match e {
            Entry::Dir { path } => header(&mut out, ino, 0o040755, 2, 0, (0, 0), path),
            Entry::File { path, mode, data } => {
                header(&mut out, ino, 0o100000 | mode, 1, data.len(), (0, 0), path);
                out.extend_from_slice(data);
                pad4(&mut out);
            }
            Entry::Symlink { path, target } => {
                header(&mut out, ino, 0o120777, 1, target.len(), (0, 0), path);
                out.extend_from_slice(target.as_bytes());
                pad4(&mut out);
            }
            Entry::CharDev { path, major, minor } => {
                header(&mut out, ino, 0o020600, 1, 0, (*major, *minor), path)
            }
        }
    }
    header(&mut out, 0, 0, 1, 0, (0, 0), "TRAILER!!!");
    out
}

/// Settings the init script is written with.
#[derive(Clone, Debug)]
pub struct InitSettings {
    /// 2 MiB huge pages to reserve before the first reproducer.
    pub hugepages_2m: u32,
    /// Seconds each reproducer may run before it is killed.
    pub per_repro_secs: u32,
}

/// The init script. Reproducers are `/lab/bin/NAME`, run in the order of
/// `/lab/list` (one name a line), from the index given as `regbuf.from=K`
/// on the kernel command line (0 when absent), so the host can boot again
/// after a reproducer that took the kernel down and go on with the next.
/// The machine is stopped with `reboot -f`: the VM runs with `-no-reboot`,
/// so a reboot ends it, and the lab kernel needs no ACPI for it.
pub fn init_script(s: &InitSettings) -> String {
    format!(
        r#"#!/bin/busybox sh
# regbuf-fuzz kernel lab init (generated).
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /tmp /dev/hugepages
mount -t tmpfs tmpfs /tmp
mount -t hugetlbfs hugetlbfs /dev/hugepages
echo {hp} > /proc/sys/vm/nr_hugepages
t=/sys/kernel/mm/transparent_hugepage
[ -w $t/enabled ] && echo madvise > $t/enabled
[ -w $t/defrag ] && echo madvise > $t/defrag
[ -w $t/hugepages-16kB/enabled ] && echo madvise > $t/hugepages-16kB/enabled
[ -w $t/hugepages-64kB/enabled ] && echo madvise > $t/hugepages-64kB/enabled
from=0
for w in $(cat /proc/cmdline); do
  case "$w" in regbuf.from=*) from=${{w#regbuf.from=}} ;; esac
done
up() {{ cut -d' ' -f1 /proc/uptime; }}
echo "REGBUF-BOOTED $(uname -r) up=$(up) hugepages_2m=$(cat /proc/sys/vm/nr_hugepages) thp=$(cat $t/enabled 2>/dev/null | tr ' ' ,) from=$from"
i=0
while read -r name; do
  if [ "$i" -ge "$from" ]; then
    echo "REGBUF-START $name"
    t0=$(up)
    timeout -s KILL {limit} /lab/bin/$name </dev/null 2>&1
    rc=$?
    t1=$(up)
    sleep 1
    echo "REGBUF-RESULT $name $rc $(echo "$t0 $t1" | awk '{{printf "%.2f", $2 - $1}}')"
  fi
  i=$((i + 1))
done < /lab/list
echo REGBUF-DONE
sync
reboot -f
"#,
        hp = s.hugepages_2m,
        limit = s.per_repro_secs,
    )
}

/// The whole initramfs: busybox at `/bin/busybox`, `/init`, `/dev/console`,
/// and each program (name, static binary) under `/lab/bin`, listed in
/// `/lab/list` in the order given.
pub fn build(busybox: &[u8], programs: &[(String, Vec<u8>)], s: &InitSettings) -> Vec<u8> {
    let mut e = vec![];
    for d in ["bin", "dev", "proc", "sys", "tmp", "lab", "lab/bin"] {
        e.push(Entry::Dir { path: d.into() });
    }
    e.push(Entry::CharDev {
        path: "dev/console".into(),
        major: 5,
        minor: 1,
    });
    e.push(Entry::CharDev {
        path: "dev/null".into(),
        major: 1,
        minor: 3,
    });
    e.push(Entry::File {
        path: "bin/busybox".into(),
        mode: 0o755,
        data: busybox.to_vec(),
    });
    e.push(Entry::Symlink {
        path: "bin/sh".into(),
        target: "busybox".into(),
    });
    e.push(Entry::File {
        path: "init".into(),
        mode: 0o755,
        data: init_script(s).into_bytes(),
    });
    let mut list = Vec::new();
    for (name, bin) in programs {
        let _ = writeln!(list, "{name}");
        e.push(Entry::File {
            path: format!("lab/bin/{name}"),
            mode: 0o755,
            data: bin.clone(),
        });
    }
    e.push(Entry::File {
        path: "lab/list".into(),
        mode: 0o644,
        data: list,
    });
    newc(&e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newc_layout() {
        let a = newc(&[
            Entry::Dir { path: "d".into() },
            Entry::File {
                path: "d/f".into(),
                mode: 0o644,
                data: b"hello".to_vec(),
            },
        ]);
        assert!(a.starts_with(b"070701"));
        assert_eq!(a.len() % 4, 0);
        // header of d/f: 110 bytes + "d/f\0" (4) = 114, padded to 116.
        let s = String::from_utf8_lossy(&a);
        assert!(s.contains("d/f\0"));
        assert!(s.contains("hello"));
        assert!(s.contains("TRAILER!!!"));
        // The file's size field (7th field) says 5.
        let f = s.find("d/f\0").unwrap() - 110;
        assert_eq!(&s[f + 6 + 6 * 8..f + 6 + 7 * 8], "00000005");
    }

    #[test]
    fn cpio_tool_reads_it_when_present() {
        let Ok(out) = std::process::Command::new("cpio").arg("--version").output() else {
            eprintln!("skipped: no cpio(1) on this machine");
            return;
        };
        if !out.status.success() {
            return;
        }
        let archive = build(
            b"#!busybox",
            &[("a".into(), b"\x7fELF".to_vec())],
            &InitSettings {
                hugepages_2m: 8,
                per_repro_secs: 60,
            },
        );
        let dir = std::env::temp_dir().join(format!("regbuf-cpio-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("i.cpio");
        std::fs::write(&path, archive).unwrap();
        let list = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("cpio -it < {}", path.display()))
            .output()
            .unwrap();
        let names = String::from_utf8_lossy(&list.stdout).to_string();
        let _ = std::fs::remove_dir_all(&dir);
        for want in [
            "init",
            "bin/busybox",
            "dev/console",
            "lab/bin/a",
            "lab/list",
        ] {
            assert!(names.lines().any(|l| l == want), "{want} not in {names}");
        }
    }

    #[test]
    fn init_prints_markers_and_powers_off() {
        let s = init_script(&InitSettings {
            hugepages_2m: 48,
            per_repro_secs: 90,
        });
        assert!(s.contains("echo 48 > /proc/sys/vm/nr_hugepages"));
        assert!(s.contains("timeout -s KILL 90 /lab/bin/$name"));
        assert!(s.contains("echo \"REGBUF-START $name\""));
        assert!(s.contains("REGBUF-RESULT $name $rc"));
        assert!(s.contains("echo REGBUF-DONE"));
        assert!(s.trim_end().ends_with("reboot -f"));
    }
}
