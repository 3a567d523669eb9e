//! The context of a writing command: where, through what, and whether only to preview.

use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::host::{command_line, Host};
use crate::hugepages::PageSize;
use crate::sysfs::Root;

/// Root, host, dry-run switch and the journal of what was (or would be) done.
pub struct Ctx<'h> {
    root: Root,
    host: &'h dyn Host,
    dry_run: bool,
    lines: Vec<String>,
}

impl<'h> Ctx<'h> {
    /// A context acting on `root` through `host`; with `dry_run`, changes are only described.
    pub fn new(root: Root, host: &'h dyn Host, dry_run: bool) -> Self {
        Ctx { root, host, dry_run, lines: Vec::new() }
    }

    /// The root paths are resolved under.
    pub fn root(&self) -> &Root {
        &self.root
    }

    /// The host changes go through.
    pub fn host(&self) -> &'h dyn Host {
        self.host
    }

    /// Whether changes are only described.
    pub fn dry_run(&self) -> bool {
        self.dry_run
    }

    /// What was done (or would be), one line per step.
    pub fn lines(&self) -> &[String] {
        &self.lines
    }

    /// Add a line to the journal.
    pub fn say(&mut self, line: impl Into<String>) {
        self.lines.push(line.into());
    }

    fn resolve(&self, host_path: impl AsRef<Path>) -> PathBuf {
        self.root.path(host_path)
    }

    /// Write a short value to a kernel attribute.
    pub fn write(&mut self, host_path: impl AsRef<Path>, value: &str) -> Result<()> {
        let path = self.resolve(host_path);
        let shown = match value.trim() {
            "" => "\"\"".to_string(),
            v => v.to_string(),
        };
        if self.dry_run {
            self.say(format!("would write {shown} to {}", path.display()));
            return Ok(());
        }
        self.host.write(&path, value)?;
        self.say(format!("wrote {shown} to {}", path.display()));
        Ok(())
    }

    /// Write a whole configuration file, creating its directory.
    pub fn write_file(&mut self, host_path: impl AsRef<Path>, content: &str) -> Result<()> {
        let path = self.resolve(host_path);
        if self.dry_run {
            let mut line = format!("would write to {}:", path.display());
            for l in content.lines() {
                line.push_str("\n    ");
                line.push_str(l);
            }
            self.say(line);
            return Ok(());
        }
        if let Some(dir) = path.parent() {
            if !dir.exists() {
                self.host.create_dir_all(dir)?;
            }
        }
        self.host.write(&path, content)?;
        self.say(format!("wrote {}", path.display()));
        Ok(())
    }

    /// Create a directory (and its parents) unless it exists.
    pub fn create_dir_all(&mut self, host_path: impl AsRef<Path>) -> Result<()> {
        let path = self.resolve(host_path);
        if path.is_dir() {
            return Ok(());
        }
        if self.dry_run {
            self.say(format!("would create directory {}", path.display()));
            return Ok(());
        }
        self.host.create_dir_all(&path)?;
        self.say(format!("created directory {}", path.display()));
        Ok(())
    }

    /// Run a program that changes the host.
    pub fn run(&mut self, program: &str, args: &[&str]) -> Result<()> {
        let line = command_line(program, args);
        if self.dry_run {
            self.say(format!("would run {line}"));
            return Ok(());
        }
        self.host.run(program, args)?;
        self.say(format!("ran {line}"));
        Ok(())
    }

    /// Run a program that only reports; it runs in dry-run mode too.
    pub fn query(&self, program: &str, args: &[&str]) -> Result<String> {
        self.host.run(program, args)
    }

    /// Mount hugetlbfs on a host path.
    pub fn mount_hugetlbfs(&mut self, host_path: impl AsRef<Path>, size: PageSize) -> Result<()> {
        let path = self.resolve(host_path);
        let line = format!("mount -t hugetlbfs -o pagesize={} nodev {}", size.label(), path.display());
        if self.dry_run {
            self.say(format!("would run {line}"));
            return Ok(());
        }
        self.host.mount_hugetlbfs(&path, size)?;
        self.say(format!("ran {line}"));
        Ok(())
    }
}
