//! `certus verify`.

use super::args::{count, positive, seconds, whole, EngineArg, Seconds};
use super::{guard, NetArgs, EXIT_ERROR};
use certus::outcome::Verdict;
use certus::verify::{verify_with, Options};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub net: NetArgs,
    /// VNN-LIB property describing the bad case (1.0, or a 2.0 query about one network). Leave
    /// it out for the VNN-LIB 2.0 form `certus verify QUERY --network NAME=MODEL ...`, where the
    /// first argument is the query.
    pub property: Option<PathBuf>,
    /// VNN-LIB 2.0 form: the model of a network the query declares, `NAME=MODEL.onnx`; once per
    /// network (except those `equal-to` another).
    #[arg(long = "network", value_name = "NAME=MODEL")]
    pub networks: Vec<String>,
    /// Wall-clock budget in seconds, loading excluded (`inf`: no limit). Every engine checks it
    /// inside its loops and answers `timeout` soon after it (a single bound pass in progress
    /// is finished first).
    #[arg(long, default_value = "60", value_parser = seconds, allow_negative_numbers = true)]
    pub timeout: Seconds,
    /// Engine: auto (input-split for low-dimensional chains of affine layers and ReLUs, crown
    /// otherwise), the input-split search, branch and bound with a bound method (interval,
    /// dual, crown, alpha, lp), or a procedure of its own (smt, dlv).
    #[arg(long, value_enum, default_value_t = EngineArg::default())]
    pub engine: EngineArg,
    /// Write the result (first line and counterexample) to this file too (VNN-COMP result file).
    #[arg(long)]
    pub result_file: Option<PathBuf>,
    /// Seed for the attack's random starts.
    #[arg(long, default_value = "0", value_parser = whole, allow_negative_numbers = true)]
    pub seed: u64,
    /// After `sat`, write the counterexample here as cex.txt (VNN-COMP), cex.json and, for
    /// image inputs, cex.png and cex_x8.png (enlarged).
    #[arg(long)]
    pub cex_dir: Option<PathBuf>,
    /// Memory limit in MiB: at 85% of it (resident) every engine stops and the answer is
    /// `unknown` with the reason; an allocation past the limit itself fails (RLIMIT_DATA) and
    /// the process ends with `unknown` in the result file. Default: no limit.
    #[arg(long, value_name = "MIB", value_parser = positive, allow_negative_numbers = true)]
    pub memory_limit: Option<f64>,
    /// Worker threads of the bound engines and the search; default: one per core.
    #[arg(long, value_parser = count, allow_negative_numbers = true)]
    pub jobs: Option<usize>,
    /// Show the search's progress on stderr (phase, domains or boxes done and open, share of
    /// the volume decided, worst bound, elapsed); on by default when stderr is a terminal.
    #[arg(long)]
    pub progress: bool,
    /// Input-split search switches, `key=value` separated by commas (see
    /// `certus::search::SearchConfig::KEYS`), for measuring each ingredient.
    #[arg(long, hide = true)]
    pub search_opt: Option<String>,
    /// ReLU-split search switches, `key=value` separated by commas (see
    /// `certus::relusplit::ReluSplitConfig::KEYS`), for measuring each ingredient.
    #[arg(long, hide = true)]
    pub relu_split_opt: Option<String>,
}

/// Share of `--memory-limit` at which the engines stop (resident memory, polled): the rest is
/// headroom for the bound computation under way and the answer, below the hard limit.
const MEMORY_SOFT_SHARE: f64 = 0.85;

/// What every form of `verify` sets up before loading: a result file that cannot be written
/// is an error now rather than after the work; the result file on every exit path ([`guard`],
/// `timeout_word` on SIGTERM), `--jobs` and `--memory-limit`.
pub fn prepare(a: &Args, timeout_word: &'static str) -> certus::Result<()> {
    if let Some(f) = &a.result_file {
        check_writable(f)?;
    }
    guard::arm(a.result_file.as_deref(), timeout_word);
    if let Some(j) = a.jobs {
        rayon::ThreadPoolBuilder::new()
            .num_threads(j)
            .build_global()
            .map_err(|e| certus::Error::Invalid(format!("--jobs {j}: {e}")))?;
    }
    if let Some(mib) = a.memory_limit {
        let bytes = (mib * (1u64 << 20) as f64).min(u64::MAX as f64) as u64;
        certus::memory::watch((bytes as f64 * MEMORY_SOFT_SHARE) as u64)
            .map_err(certus::Error::Invalid)?;
        let lim = libc::rlimit {
            rlim_cur: bytes as libc::rlim_t,
            rlim_max: libc::RLIM_INFINITY,
        };
        // Lower the soft limit only (the hard one may be below ours: then keep it).
        // SAFETY: setrlimit reads the struct we pass.
        let mut old = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        unsafe {
            if libc::getrlimit(libc::RLIMIT_DATA, &mut old) == 0 {
                let lim = libc::rlimit {
                    rlim_cur: lim.rlim_cur.min(old.rlim_max),
                    rlim_max: old.rlim_max,
                };
                libc::setrlimit(libc::RLIMIT_DATA, &lim);
            }
        }
    }
    Ok(())
}

/// Runs the verification, turning a panic (a bug) into an error message: the caller answers
/// `error` and writes it to the result file like any other error.
pub fn guarded<T>(f: impl FnOnce() -> T) -> certus::Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|p| {
        let msg = p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        certus::Error::Invalid(format!("internal error (a bug in certus): {msg}"))
    })
}

/// Writes the final result to stdout and the result file, unless a signal has answered
/// already (then waits for the handler to end the process).
/// The result file is written before stdout (an abort while printing then leaves it complete).
pub fn answer(text: &str, result_file: Option<&Path>, code: u8) -> certus::Result<()> {
    if !guard::finish(code) {
        loop {
            std::thread::park();
        }
    }
    guard::write_final(result_file, text).map_err(|source| certus::Error::Io {
        path: result_file.unwrap_or(Path::new("-")).to_path_buf(),
        source,
    })?;
    Ok(())
}

/// Exit codes of `verify`.
pub fn exit_code(v: &Verdict) -> u8 {
    match v {
        Verdict::Unsat => 0,
        Verdict::Sat(_) => 1,
        Verdict::Unknown(_) | Verdict::Timeout => 3,
    }
}

/// The result text: the verdict word, then the counterexample after `sat`.
pub fn result_text(v: &Verdict) -> String {
    match v {
        Verdict::Sat(cex) => format!("sat\n{}\n", cex.vnncomp_text()),
        other => format!("{}\n", other.word()),
    }
}

/// The verifier's options from the command line; the `--timeout` clock starts now. A bad
/// `--search-opt` list is an error.
pub fn options(a: &Args) -> certus::Result<Options> {
    let mut search = certus::search::SearchConfig::default();
    if let Some(list) = &a.search_opt {
        search
            .apply(list)
            .map_err(|e| certus::Error::Invalid(format!("--search-opt: {e}")))?;
    }
    let mut relu_split = certus::relusplit::ReluSplitConfig::default();
    if let Some(list) = &a.relu_split_opt {
        relu_split
            .apply(list)
            .map_err(|e| certus::Error::Invalid(format!("--relu-split-opt: {e}")))?;
    }
    Ok(Options {
        deadline: a.timeout.deadline(),
        engine: a.engine.into(),
        seed: a.seed,
        search,
        relu_split,
        ..Options::default()
    })
}

/// Fails when `f` cannot be written (it is created if missing and left as it is otherwise;
/// the answer overwrites it at the end).
pub fn check_writable(f: &Path) -> certus::Result<()> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(f)
        .map(drop)
        .map_err(|source| certus::Error::Io {
            path: f.to_path_buf(),
            source,
        })
}

/// Prints one progress line over the last one (stderr only).
fn show_progress(p: &certus::search::Progress) {
    let worst = p.worst.map_or("-".into(), |w| format!("{w:.4}"));
    let rerooted = match p.rerooted {
        0 => String::new(),
        n => format!("{n} rerooted  "),
    };
    eprint!(
        "\r{:>6} {:>10} domains done {:>9} open  {:>7.3}% decided  worst bound {worst:>10}  {rerooted}{:.1} s ",
        p.phase,
        p.done,
        p.open,
        100.0 * p.decided,
        p.elapsed.as_secs_f64()
    );
}

/// `certus verify NET PROP` with a VNN-LIB 1.0 property (the VNN-COMP form); the VNN-LIB 2.0
/// forms go to `standard` (see [`super::run`]).
pub fn run(a: Args, property: &Path) -> certus::Result<u8> {
    let loaded = (|| {
        let net = a.net.load()?;
        let prop = super::parse_property(property)?;
        super::check_fits(&prop, property, &net, &a.net.network)?;
        Ok::<_, certus::Error>((net, prop))
    })();
    let (net, prop) = match loaded {
        Ok(v) => v,
        Err(e) => return Ok(error_answer(&e, a.result_file.as_deref())),
    };
    let opts = match options(&a) {
        Ok(o) => o,
        Err(e) => return Ok(error_answer(&e, a.result_file.as_deref())),
    };
    let t = Instant::now();
    if opts.engine == certus::verify::Engine::Auto {
        eprintln!("engine: auto chose {:?}", opts.engine.resolve(&net));
    }
    let show = a.progress || std::io::stderr().is_terminal();
    let mut report = show_progress;
    let progress: Option<&mut (dyn FnMut(&certus::search::Progress) + Send)> =
        if show { Some(&mut report) } else { None };
    let (verdict, stats) = match guarded(|| verify_with(&net, &prop, &opts, progress)) {
        Ok(v) => v,
        Err(e) => return Ok(error_answer(&e, a.result_file.as_deref())),
    };
    if let Some(s) = &stats {
        if show {
            eprintln!();
        }
        eprintln!(
            "search: {} domains in {} batches ({:.0}/s), {:.3}% of the volume decided, refuted by interval {} / linear {} / clipping {} / farkas {}, at most {} open{}",
            s.domains,
            s.batches,
            s.domains as f64 / s.time.as_secs_f64().max(1e-9),
            100.0 * s.decided,
            s.by_interval,
            s.by_linear,
            s.by_clip,
            s.by_farkas,
            s.max_open,
            if s.chain { "" } else { " (general dual-network bounds)" }
        );
    }
    // `confirm` replays in certus's own f32 summation order: a margin thinner than the f32
    // evaluation-order error bound may not replay in onnxruntime, so a nearby point with a
    // safer margin is looked for first (docs/soundness.md, "Thin margins").
    let verdict = match verdict {
        Verdict::Sat(cex) => {
            let until = certus::deadline::Deadline::after(std::time::Duration::from_millis(500));
            let (c, _) = certus::verify::margin::safer(&net, &prop, &cex, until);
            Verdict::Sat(Box::new(c))
        }
        v => v,
    };
    let text = result_text(&verdict);
    answer(&text, a.result_file.as_deref(), exit_code(&verdict))?;
    match &verdict {
        Verdict::Unknown(why) => eprintln!("unknown: {why}"),
        Verdict::Sat(cex) => {
            let (robust, bound) = certus::verify::margin::robust_margin(&net, &prop, cex);
            let order = if robust <= 0.0 {
                "violated in every f32 summation order"
            } else {
                "thin: an evaluator summing in another order may not find it violated"
            };
            eprintln!(
                "counterexample in region {} violates disjunct {} (margin f32 {:e}, f64 {:e}; \
                 f32 evaluation-order error at most {bound:e}: {order})",
                cex.region, cex.disjunct, cex.margin_f32, cex.margin_f64
            )
        }
        _ => {}
    }
    eprintln!("time: {:.3} s", t.elapsed().as_secs_f64());
    if let (Some(dir), Verdict::Sat(cex)) = (&a.cex_dir, &verdict) {
        let shape = net.input_shape();
        let pic = super::picture(shape, certus::report::Layout::Auto);
        certus::report::write_counterexample(
            dir,
            "cex",
            cex,
            &prop,
            shape,
            "verify",
            pic.as_ref(),
        )?;
    }
    Ok(exit_code(&verdict))
}

/// The VNN-COMP answer to an error: `error` on stdout and in the result file (a result word
/// even then), the message on stderr; exit code 2. A file that could not be read for want of
/// memory (under `--memory-limit`) is `unknown` (exit code 3).
fn error_answer(e: &certus::Error, result_file: Option<&Path>) -> u8 {
    let oom = matches!(e, certus::Error::Io { source, .. }
        if source.kind() == std::io::ErrorKind::OutOfMemory);
    // Static text: nothing to allocate before the file is written (memory may be short).
    let (word, line, code): (&str, &str, u8) = if oom {
        ("unknown", "unknown\n", 3)
    } else {
        ("error", "error\n", EXIT_ERROR)
    };
    if guard::finish(code) {
        // Through raw descriptors, allocation-free (see `guard::write_final`).
        let _ = guard::write_final(result_file, line);
    }
    eprintln!("{word}: {e}");
    code
}
