//! `--plot FILE.svg` or `FILE.png`: latency over time, and the latency distribution by
//! percentile, side by side.

use std::path::PathBuf;
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;

use super::run::Results;

/// Every chart's size in pixels.
pub const SIZE: (u32, u32) = (1200, 450);

/// Writes both charts into one file; the extension picks the format.
pub fn plot(results: &Results, path: &str) -> Result<(), String> {
    let lower = path.to_ascii_lowercase();
    if !lower.ends_with(".svg") && !lower.ends_with(".png") {
        return Err(format!("--plot {path}: expected a .svg or .png file name"));
    }
    // Text is laid out with a real font in both formats, and a PNG carries its glyphs.
    register_font().map_err(|e| format!("--plot {path}: {e}"))?;
    if lower.ends_with(".svg") {
        let root = SVGBackend::new(path, SIZE).into_drawing_area();
        draw(results, &root).map_err(|e| format!("--plot {path}: {e}"))?;
        root.present().map_err(|e| format!("--plot {path}: {e}"))
    } else {
        let root = BitMapBackend::new(path, SIZE).into_drawing_area();
        draw(results, &root).map_err(|e| format!("--plot {path}: {e}"))?;
        root.present().map_err(|e| format!("--plot {path}: {e}"))
    }
}

/// Registers a TrueType sans-serif font for the charts' text, once per process: `PLOT_FONT` when
/// set, else what fontconfig calls sans-serif, else DejaVu or Liberation Sans where Debian,
/// Fedora and Arch put them.
pub fn register_font() -> Result<(), String> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        let mut candidates: Vec<PathBuf> = Vec::new();
        if let Some(p) = std::env::var_os("PLOT_FONT") {
            candidates.push(p.into());
        }
        if let Ok(out) = std::process::Command::new("fc-match")
            .args(["--format=%{file}", "sans-serif:style=Regular"])
            .output()
            && out.status.success()
        {
            candidates.push(String::from_utf8_lossy(&out.stdout).trim().into());
        }
        for p in [
            "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
            "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
            "/usr/share/fonts/TTF/DejaVuSans.ttf",
            "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
        ] {
            candidates.push(p.into());
        }
        for path in candidates.iter().filter(|p| p.is_file()) {
            let Ok(bytes) = std::fs::read(path) else {
                continue;
            };
            // plotters keeps registered fonts for the life of the process.
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            if plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok() {
                return Ok(());
            }
        }
        Err("the charts need a TrueType font and none was found; set \
             PLOT_FONT=/path/to/font.ttf or install fonts-dejavu-core"
            .to_owned())
    })
    .clone()
}

fn draw<DB: DrawingBackend>(results: &Results, root: &DrawingArea<DB, Shift>) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let (left, right) = root.split_horizontally(SIZE.0 / 2);
    let max_t = results.timeline.iter().map(|p| p.0).fold(1.0_f64, f64::max);
    let max_ms = results.timeline.iter().map(|p| p.1).fold(1.0_f64, f64::max) * 1.05;

    let mut over_time = ChartBuilder::on(&left)
        .caption("latency over time", ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(35)
        .y_label_area_size(55)
        .build_cartesian_2d(0.0..max_t, 0.0..max_ms)
        .map_err(|e| e.to_string())?;
    over_time
        .configure_mesh()
        .x_desc("seconds since start")
        .y_desc("client latency (ms)")
        .draw()
        .map_err(|e| e.to_string())?;
    over_time
        .draw_series(
            results
                .timeline
                .iter()
                .map(|&(t, ms)| Circle::new((t, ms), 1, BLUE.mix(0.5).filled())),
        )
        .map_err(|e| e.to_string())?;

    // Percentiles on a log-like axis: 0 → 50%, 1 → 90%, 2 → 99%, 3 → 99.9%, 4 → 99.99%.
    let histogram = if results.warm.is_empty() {
        &results.cold
    } else {
        &results.warm
    };
    let points: Vec<(f64, f64)> = (0..=400)
        .map(|i| {
            let x = i as f64 / 100.0;
            let q = 1.0 - 0.5 * 10f64.powf(-x);
            (x, histogram.value_at_quantile(q) as f64 / 1e3)
        })
        .collect();
    let top = points.iter().map(|p| p.1).fold(1.0_f64, f64::max) * 1.05;
    let mut distribution = ChartBuilder::on(&right)
        .caption("latency distribution (warm)", ("sans-serif", 18))
        .margin(12)
        // Room for the last percentile label.
        .margin_right(36)
        .x_label_area_size(35)
        .y_label_area_size(55)
        .build_cartesian_2d(0.0..4.0, 0.0..top)
        .map_err(|e| e.to_string())?;
    distribution
        .configure_mesh()
        .x_desc("percentile")
        .y_desc("client latency (ms)")
        .x_label_formatter(&|x: &f64| match x.round() as i64 {
            0 => "50%".into(),
            1 => "90%".into(),
            2 => "99%".into(),
            3 => "99.9%".into(),
            _ => "99.99%".into(),
        })
        .x_labels(5)
        .draw()
        .map_err(|e| e.to_string())?;
    distribution
        .draw_series(LineSeries::new(points, &RED))
        .map_err(|e| e.to_string())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn results() -> Results {
        let mut r = Results::new();
        for i in 0..500u64 {
            let ms = 0.4 + (i % 50) as f64 / 100.0 + if i % 97 == 0 { 3.0 } else { 0.0 };
            r.timeline.push((i as f64 / 100.0, ms));
            r.warm.record((ms * 1e3) as u64).unwrap();
        }
        r
    }

    #[test]
    fn svg_holds_both_charts() {
        let path = std::env::temp_dir().join(format!("plot-{}.svg", std::process::id()));
        plot(&results(), path.to_str().unwrap()).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.contains("latency over time") && svg.contains("99.9%"));
        assert_eq!(svg.matches("<circle").count(), 500);
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn png_is_a_picture_of_the_charts() {
        let path = std::env::temp_dir().join(format!("plot-{}.png", std::process::id()));
        match plot(&results(), path.to_str().unwrap()) {
            Ok(()) => {}
            // A machine without any TrueType font gets the message, not a panic.
            Err(e) if e.contains("need a TrueType font") => return,
            Err(e) => panic!("{e}"),
        }
        let png = std::fs::read(&path).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        // Width and height from the IHDR chunk.
        assert_eq!(u32::from_be_bytes(png[16..20].try_into().unwrap()), SIZE.0);
        assert_eq!(u32::from_be_bytes(png[20..24].try_into().unwrap()), SIZE.1);
        // Drawn, not blank: a white 1200x450 image compresses to well under 10 KB.
        assert!(png.len() > 10_000, "{} bytes", png.len());
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn other_formats_are_refused_by_name() {
        let e = plot(&results(), "/tmp/x.jpg").unwrap_err();
        assert!(
            e.contains("/tmp/x.jpg") && e.contains(".svg or .png"),
            "{e}"
        );
    }
}
