//! `--plot FILE.svg`: latency over time, and the latency distribution by percentile.

use plotters::prelude::*;

use super::run::Results;

/// Writes the two charts side by side into one SVG file.
pub fn plot(results: &Results, path: &str) -> Result<(), String> {
    if !path.ends_with(".svg") {
        return Err(format!("--plot {path}: only .svg is supported"));
    }
    let root = SVGBackend::new(path, (1200, 450)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let (left, right) = root.split_horizontally(600);
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
    root.present().map_err(|e| format!("--plot {path}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_both_charts_and_refuses_other_formats() {
        let mut r = Results::new();
        for i in 0..500u64 {
            let ms = 0.4 + (i % 50) as f64 / 100.0 + if i % 97 == 0 { 3.0 } else { 0.0 };
            r.timeline.push((i as f64 / 100.0, ms));
            r.warm.record((ms * 1e3) as u64).unwrap();
        }
        let path = std::env::temp_dir().join(format!("plot-{}.svg", std::process::id()));
        plot(&r, path.to_str().unwrap()).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.contains("latency over time") && svg.contains("99.9%"));
        assert_eq!(svg.matches("<circle").count(), 500);
        assert!(plot(&r, "/tmp/x.png").unwrap_err().contains("only .svg"));
    }
}
