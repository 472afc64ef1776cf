//! The vendored WDBC set split for the serving tests: the even rows to
//! train on, the odd rows (label removed) as a fresh sample of the same
//! distribution. Shared by the model's and the gateway's tests.

#![allow(dead_code)]
pub struct Data {
    pub header: Vec<String>,
    /// Rows without the label, as CSV cell text.
    pub fresh: Vec<Vec<String>>,
    pub label_col: usize,
}

pub fn split_data() -> (String, Data) {
    let text = std::fs::read_to_string(concat!(
        concat!(env!("CARGO_MANIFEST_DIR"), "/../.."),
        "/tests/data/breast_cancer_wdbc.csv"
    ))
    .unwrap();
    let mut lines = text.lines();
    let header_line = lines.next().unwrap();
    let header: Vec<String> = header_line.split(',').map(str::to_string).collect();
    let label_col = header.iter().position(|h| h == "label").unwrap();
    let mut train = format!("{header_line}\n");
    let mut fresh = Vec::new();
    for (i, l) in lines.enumerate() {
        if i % 2 == 0 {
            train.push_str(l);
            train.push('\n');
        } else {
            let mut cells: Vec<String> = l.split(',').map(str::to_string).collect();
            cells.remove(label_col);
            fresh.push(cells);
        }
    }
    let mut features = header.clone();
    features.remove(label_col);
    (
        train,
        Data {
            header: features,
            fresh,
            label_col,
        },
    )
}
