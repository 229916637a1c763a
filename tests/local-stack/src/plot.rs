//! `ingest-sweep`'s chart.

use load::plot::{SIZE, register_font};
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::capacity::Point;

/// `ingest-sweep`'s chart: events/s and warm p99 against the number of environments, one
/// line per batch size. Always PNG.
pub fn sweep(points: &[Point], path: &str) -> Result<(), String> {
    register_font().map_err(|e| format!("{path}: {e}"))?;
    let root = BitMapBackend::new(path, SIZE).into_drawing_area();
    draw_sweep(points, &root).map_err(|e| format!("{path}: {e}"))?;
    root.present().map_err(|e| format!("{path}: {e}"))
}

fn draw_sweep<DB: DrawingBackend>(
    points: &[Point],
    root: &DrawingArea<DB, Shift>,
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let (left, right) = root.split_horizontally(SIZE.0 / 2);
    let mut batches: Vec<usize> = points.iter().map(|p| p.batch).collect();
    batches.sort_unstable();
    batches.dedup();
    let max_n = points
        .iter()
        .map(|p| p.environments)
        .max()
        .unwrap_or(1)
        .max(2) as f64;
    // Environments on a log2 axis: 1, 2, 4, 8, 16 evenly spaced.
    let x_max = max_n.log2();
    let throughput: fn(&Point) -> f64 = |p| p.events_per_s;
    let p99: fn(&Point) -> f64 = |p| p.p99_ms;
    let charts = [
        (&left, "throughput", "events/s", throughput),
        (&right, "warm p99 latency", "client p99 (ms)", p99),
    ];
    for (area, caption, y_desc, value) in charts {
        let top = points.iter().map(value).fold(1.0_f64, f64::max) * 1.1;
        let mut chart = ChartBuilder::on(area)
            .caption(caption, ("sans-serif", 18))
            .margin(12)
            .margin_right(24)
            .x_label_area_size(35)
            .y_label_area_size(65)
            .build_cartesian_2d(0.0..x_max, 0.0..top)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("environments (concurrent invocations)")
            .y_desc(y_desc)
            .x_labels(x_max as usize + 1)
            .x_label_formatter(&|x: &f64| format!("{}", 2f64.powf(x.round()) as u64))
            .draw()
            .map_err(|e| e.to_string())?;
        for (i, batch) in batches.iter().enumerate() {
            let colour = Palette99::pick(i).to_rgba();
            let line: Vec<(f64, f64)> = points
                .iter()
                .filter(|p| p.batch == *batch)
                .map(|p| ((p.environments as f64).log2(), value(p)))
                .collect();
            chart
                .draw_series(LineSeries::new(line.clone(), colour.stroke_width(2)))
                .map_err(|e| e.to_string())?
                .label(format!("{batch} per request"))
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], colour));
            chart
                .draw_series(line.into_iter().map(|p| Circle::new(p, 3, colour.filled())))
                .map_err(|e| e.to_string())?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}
