//! Data preparation on real data sets (penguins, credit_data from testdata/),
//! checked against numbers numpy/pandas computed on the same training rows
//! (fixtures/prepare_reference.py → prepare_reference.json).

mod common;

use domain::datasets::ColumnType;
use domain::prepare::{FittedStep, FittedTransform, ImputeFill, Scalar, SplitSpec, TransformSpec};
use ml::frame::{Column, ColumnData, Frame};
use ml::prepare::{self, PrepareError, apply, apply_rows, fit, parse_spec, split, to_matrix};
use serde_json::Value;

const PENGUINS: &str = r#"
target: species
steps:
  - op: drop
    columns: [year]
  - op: impute
    strategy: median
  - op: impute
    strategy: most_frequent
    columns: [sex]
  - op: standard_scale
  - op: one_hot
    columns: [island, sex]
split:
  method: stratified
  column: species
  test_fraction: 0.25
  seed: 7
"#;

const CREDIT: &str = r#"
target: Status
steps:
  - op: filter
    expr: Age >= 20 and Job is not null
  - op: impute
    strategy: mean
    columns: [Income, Assets, Debt]
  - op: impute
    strategy: {constant: unknown}
    columns: [Home, Marital]
  - op: log
    columns: [Income]
    offset: 1
  - op: standard_scale
  - op: one_hot
    columns: [Home, Marital, Records, Job]
    max_categories: 4
split:
  method: random
  test_fraction: 0.2
  seed: 42
"#;

fn reference() -> Value {
    let text = include_str!("fixtures/prepare_reference.json");
    serde_json::from_str(text).unwrap()
}

fn fixture_split(name: &str) -> (Vec<usize>, Vec<usize>) {
    let splits: Value = serde_json::from_str(include_str!("fixtures/prepare_splits.json")).unwrap();
    let rows = |side: &str| -> Vec<usize> { serde_json::from_value(splits[name][side].clone()).unwrap() };
    (rows("train"), rows("test"))
}

fn close(got: f64, want: &Value, what: &str) {
    let want = want.as_f64().unwrap_or_else(|| panic!("{what}: no reference number"));
    let tolerance = 1e-10 * want.abs().max(1.0);
    assert!((got - want).abs() <= tolerance, "{what}: got {got}, numpy says {want}");
}

fn floats<'f>(frame: &'f Frame, name: &str) -> &'f [Option<f64>] {
    match &frame.column(name).unwrap_or_else(|| panic!("no column {name}")).data {
        ColumnData::Float(v) => v,
        other => panic!("{name} is {other:?}"),
    }
}

fn names(frame: &Frame) -> Vec<&str> {
    frame.names().collect()
}

fn fitted_step<'a>(fitted: &'a FittedTransform, op: &str, nth: usize) -> &'a FittedStep {
    fitted.steps.iter().filter(|s| s.op() == op).nth(nth).unwrap_or_else(|| panic!("no {op} step #{nth}"))
}

#[test]
fn splits_are_pinned_to_the_committed_rows() {
    let penguins = common::data_set("penguins.csv");
    let credit = common::data_set("credit_data.csv");
    let spec = parse_spec(PENGUINS).unwrap();
    assert_eq!(split(spec.split.as_ref().unwrap(), &penguins).unwrap(), fixture_split("penguins"));
    let spec = parse_spec(CREDIT).unwrap();
    assert_eq!(split(spec.split.as_ref().unwrap(), &credit).unwrap(), fixture_split("credit_data"));
    // Another seed, another split.
    let other = split(&SplitSpec::Random { test_fraction: 0.2, seed: 43 }, &credit).unwrap();
    assert_ne!(other, fixture_split("credit_data"));
}

#[test]
fn stratified_split_keeps_species_proportions() {
    let penguins = common::data_set("penguins.csv");
    let (train, test) = fixture_split("penguins");
    assert_eq!((train.len(), test.len()), (258, 86)); // ceil(0.25 * 344)
    let ColumnData::Str(species) = &penguins.column("species").unwrap().data else { panic!("species") };
    for (class, n) in [("Adelie", 152), ("Chinstrap", 68), ("Gentoo", 124)] {
        let in_test = test.iter().filter(|&&r| species[r].as_deref() == Some(class)).count();
        let ideal = 0.25 * n as f64;
        assert!((in_test as f64 - ideal).abs() < 1.0, "{class}: {in_test} test rows, ideal {ideal}");
    }
}

#[test]
fn penguins_fit_matches_numpy_on_the_train_split() {
    let r = &reference()["penguins"];
    let penguins = common::data_set("penguins.csv");
    let prepared = prepare::prepare(&parse_spec(PENGUINS).unwrap(), &penguins).unwrap();
    let fitted = &prepared.fitted;

    let FittedStep::Impute { fills } = fitted_step(fitted, "impute", 0) else { unreachable!() };
    assert_eq!(fills.len(), 4, "median imputes the four measurements, not the target or the dropped year");
    for ImputeFill { column, value } in fills {
        let Scalar::Float(v) = value else { panic!("{column}: median {value:?}") };
        close(*v, &r["medians"][column], &format!("median of {column}"));
    }
    let FittedStep::Impute { fills } = fitted_step(fitted, "impute", 1) else { unreachable!() };
    assert_eq!(fills[0].value, Scalar::Str(r["sex_most_frequent"].as_str().unwrap().into()));
    let FittedStep::StandardScale { columns } = fitted_step(fitted, "standard_scale", 0) else {
        unreachable!()
    };
    assert_eq!(columns.len(), 4);
    for s in columns {
        close(s.mean, &r["scale"][&s.column]["mean"], &format!("mean of {}", s.column));
        close(s.std, &r["scale"][&s.column]["std"], &format!("std of {}", s.column));
    }
    let FittedStep::OneHot { columns } = fitted_step(fitted, "one_hot", 0) else { unreachable!() };
    let island: Vec<String> = serde_json::from_value(r["island"]["categories"].clone()).unwrap();
    assert_eq!(columns[0].categories, island);

    let expected = [
        "species",
        "island_Biscoe",
        "island_Dream",
        "island_Torgersen",
        "bill_length_mm",
        "bill_depth_mm",
        "flipper_length_mm",
        "body_mass_g",
        "sex_female",
        "sex_male",
    ];
    let test = prepared.test.as_ref().unwrap();
    assert_eq!(names(&prepared.train), expected);
    assert_eq!(names(test), expected);
    assert_eq!((prepared.train.n_rows(), test.n_rows()), (258, 86));
    // Fit saw only what the output needs: `year` is dropped first, so serving need not send it.
    let input: Vec<&str> = fitted.input.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        input,
        ["species", "island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "sex"]
    );

    for frame in [&prepared.train, test] {
        let m = to_matrix(frame, Some("species")).unwrap();
        assert_eq!((m.n_cols, m.names.len()), (9, 9));
        assert!(m.data.iter().all(|x| x.is_finite()));
    }
    assert_eq!(prepare::feature_names(fitted), expected[1..]);

    // Test row 8 (Torgersen, bill 34.1 mm, sex missing) is transformed with the
    // TRAIN statistics: checked by hand from numpy's numbers.
    let (_, test_rows) = fixture_split("penguins");
    let i = test_rows.iter().position(|&row| row == 8).unwrap();
    let by_hand = (34.1 - r["scale"]["bill_length_mm"]["mean"].as_f64().unwrap())
        / r["scale"]["bill_length_mm"]["std"].as_f64().unwrap();
    assert!((floats(test, "bill_length_mm")[i].unwrap() - by_hand).abs() < 1e-12);
    assert_eq!(floats(test, "sex_male")[i], Some(1.0), "missing sex imputed with the train mode");
    assert_eq!(floats(test, "island_Torgersen")[i], Some(1.0));
    // The test split's own mean is not the train's, so the check above means something.
    let raw: Vec<f64> = test_rows
        .iter()
        .filter_map(|&row| match &penguins.columns[2].data {
            ColumnData::Float(v) => v[row],
            _ => None,
        })
        .collect();
    let test_mean = raw.iter().sum::<f64>() / raw.len() as f64;
    assert!((test_mean - r["scale"]["bill_length_mm"]["mean"].as_f64().unwrap()).abs() > 0.1);
}

#[test]
fn credit_fit_matches_numpy_on_the_train_split() {
    let r = &reference()["credit_data"];
    let credit = common::data_set("credit_data.csv");
    let spec = parse_spec(CREDIT).unwrap();
    let prepared = prepare::prepare(&spec, &credit).unwrap();
    let fitted = &prepared.fitted;

    assert_eq!(prepared.train.n_rows() as u64, r["train_rows"].as_u64().unwrap(), "filter ran at fit");
    let FittedStep::Impute { fills } = fitted_step(fitted, "impute", 0) else { unreachable!() };
    for ImputeFill { column, value } in fills {
        let Scalar::Float(v) = value else { panic!("{column}: mean {value:?}") };
        close(*v, &r["fill_means"][column], &format!("mean of {column}"));
    }
    let FittedStep::StandardScale { columns } = fitted_step(fitted, "standard_scale", 0) else {
        unreachable!()
    };
    let scaled: Vec<&str> = columns.iter().map(|s| s.column.as_str()).collect();
    assert_eq!(
        scaled,
        ["Seniority", "Time", "Age", "Expenses", "Income", "Assets", "Debt", "Amount", "Price"]
    );
    for s in columns {
        close(s.mean, &r["scale"][&s.column]["mean"], &format!("mean of {}", s.column));
        close(s.std, &r["scale"][&s.column]["std"], &format!("std of {}", s.column));
    }
    let FittedStep::OneHot { columns } = fitted_step(fitted, "one_hot", 0) else { unreachable!() };
    for c in columns {
        let want = &r["one_hot"][&c.column];
        assert_eq!(c.categories, serde_json::from_value::<Vec<String>>(want["categories"].clone()).unwrap());
        assert_eq!(c.other, serde_json::from_value::<Vec<String>>(want["other"].clone()).unwrap());
    }

    let expected = [
        "Status",
        "Seniority",
        "Home_owner",
        "Home_parents",
        "Home_rent",
        "Home_other",
        "Time",
        "Age",
        "Marital_married",
        "Marital_separated",
        "Marital_single",
        "Marital_other",
        "Records_no",
        "Records_yes",
        "Job_fixed",
        "Job_freelance",
        "Job_others",
        "Job_partime",
        "Expenses",
        "Income",
        "Assets",
        "Debt",
        "Amount",
        "Price",
    ];
    assert_eq!(names(&prepared.train), expected);
    let m = to_matrix(&prepared.train, Some("Status")).unwrap();
    assert_eq!((m.n_rows, m.n_cols), (3536, 23));
    assert!(m.data.iter().all(|x| x.is_finite()));

    // Test row 157 has no Income: it gets the TRAIN mean, then log, then the
    // TRAIN log-scale statistics.
    let (_, test_rows) = fixture_split("credit_data");
    let test_frame = credit.take(&test_rows);
    let applied = apply_rows(fitted, &test_frame).unwrap();
    assert_eq!(applied.frame, *prepared.test.as_ref().unwrap());
    let at = test_rows.iter().position(|&row| row == 157).unwrap();
    let i = applied.rows.iter().position(|&row| row == at).unwrap();
    let num = |v: &Value| v.as_f64().unwrap();
    let by_hand = ((num(&r["fill_means"]["Income"]) + 1.0).ln() - num(&r["scale"]["Income"]["mean"]))
        / num(&r["scale"]["Income"]["std"]);
    assert!((floats(&applied.frame, "Income")[i].unwrap() - by_hand).abs() < 1e-12);
    assert_eq!(floats(&applied.frame, "Home_owner")[i], Some(1.0));
    // The filter ran on the test split too.
    let ColumnData::Int(age) = &test_frame.column("Age").unwrap().data else { panic!("Age") };
    let kept = age.iter().filter(|a| a.is_some_and(|a| a >= 20)).count();
    assert!(applied.frame.n_rows() <= kept && applied.frame.n_rows() + 2 >= kept);
}

#[test]
fn a_fitted_transform_survives_json() {
    let credit = common::data_set("credit_data.csv");
    let (train, test) = fixture_split("credit_data");
    let fitted = fit(&parse_spec(CREDIT).unwrap(), &credit.take(&train)).unwrap();
    let json = serde_json::to_string(&fitted).unwrap();
    let back: FittedTransform = serde_json::from_str(&json).unwrap();
    assert_eq!(back, fitted);
    let test = credit.take(&test);
    assert_eq!(apply(&back, &test).unwrap(), apply(&fitted, &test).unwrap());
    // And through YAML, as a spec author might keep it.
    let yaml = serde_yaml_ng::to_string(&fitted).unwrap();
    let back: FittedTransform = serde_yaml_ng::from_str(&yaml).unwrap();
    assert_eq!(apply(&back, &test).unwrap(), apply(&fitted, &test).unwrap());
}

#[test]
fn apply_checks_the_input_against_fit() {
    let credit = common::data_set("credit_data.csv");
    let fitted = fit(&parse_spec(CREDIT).unwrap(), &credit).unwrap();
    let without =
        |name: &str| Frame { columns: credit.columns.iter().filter(|c| c.name != name).cloned().collect() };

    let err = apply(&fitted, &without("Income")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the input has no column `Income`, which the transform was fitted with (as float)"
    );
    let mut retyped = credit.clone();
    let age = retyped.columns.iter_mut().find(|c| c.name == "Age").unwrap();
    age.data = ColumnData::Float(age.data.to_f64().unwrap().into_iter().map(Some).collect());
    let err = apply(&fitted, &retyped).unwrap_err();
    assert_eq!(
        err,
        PrepareError::WrongType { column: "Age".into(), expected: ColumnType::Int, got: ColumnType::Float }
    );
    assert_eq!(err.to_string(), "column `Age` is float but the transform was fitted with int");

    // Serving: no label, an extra column, columns in another order. Same features.
    let mut serving = without("Status");
    serving.columns.reverse();
    serving
        .columns
        .push(Column::new("request_id", ColumnData::Int((0..credit.n_rows() as i64).map(Some).collect())));
    let served = apply(&fitted, &serving).unwrap();
    let trained = apply(&fitted, &credit).unwrap();
    assert_eq!(names(&served), names(&trained)[1..]);
    assert_eq!(served.columns[..], trained.columns[1..]);
}

#[test]
fn serving_skips_filters_and_steps_on_the_absent_target() {
    let frame = Frame::new(vec![
        Column::new("x", ColumnData::Float(vec![Some(1.0), Some(2.0), Some(3.0), Some(-1.0)])),
        Column::new("y", ColumnData::Str(vec![Some("a".into()), None, Some("b".into()), Some("a".into())])),
    ])
    .unwrap();
    let spec = parse_spec(
        "target: y\nsteps:\n  - op: filter\n    expr: y is not null\n  - op: filter\n    expr: x > 0\n  \
         - op: ordinal\n    columns: [y]\n  - op: select\n    columns: [x]\n",
    )
    .unwrap();
    let prepared = prepare::prepare(&spec, &frame).unwrap();
    assert_eq!(names(&prepared.train), ["x", "y"], "select keeps the target");
    assert_eq!(prepared.train.columns[1].data, ColumnData::Int(vec![Some(0), Some(1)]));

    let serving = Frame::new(vec![frame.columns[0].clone()]).unwrap();
    let applied = apply_rows(&prepared.fitted, &serving).unwrap();
    assert_eq!(names(&applied.frame), ["x"]);
    assert_eq!(applied.rows, [0, 1, 2], "the target filter is skipped, `x > 0` still drops row 3");
}

#[test]
fn date_parts_and_a_time_split_on_timestamps() {
    let day = 86_400_000_000i64;
    let start = 1_356_998_400_000_000i64; // 2013-01-01T00:00:00Z, a Tuesday
    let frame = Frame::new(vec![
        Column::new(
            "when",
            ColumnData::Timestamp((0..10).map(|d| Some(start + d * 40 * day + 13 * 3_600_000_000)).collect()),
        ),
        Column::new("v", ColumnData::Int((0..10).map(Some).collect())),
    ])
    .unwrap();
    let spec = parse_spec(
        "steps:\n  - op: date_parts\n    columns: [when]\n    parts: [year, month, day, weekday, hour, day_of_year]\n\
         split: {method: time, column: when, before: '2013-08-01'}\n",
    )
    .unwrap();
    let prepared = prepare::prepare(&spec, &frame).unwrap();
    assert_eq!(
        names(&prepared.train),
        ["when_year", "when_month", "when_day", "when_weekday", "when_hour", "when_day_of_year", "v"]
    );
    // Days 0, 40, ..., 200 (up to 2013-07-20) are before August.
    assert_eq!(prepared.train.columns[6].data, ColumnData::Int((0..6).map(Some).collect()));
    let row = |f: &Frame, i: usize| -> Vec<i64> {
        f.columns[..6]
            .iter()
            .map(|c| match &c.data {
                ColumnData::Int(v) => v[i].unwrap(),
                _ => -99,
            })
            .collect()
    };
    assert_eq!(row(&prepared.train, 0), [2013, 1, 1, 1, 13, 1]);
    // 2013-01-01 + 240 days = 2013-08-29, a Thursday, day 241.
    assert_eq!(row(prepared.test.as_ref().unwrap(), 0), [2013, 8, 29, 3, 13, 241]);
}

fn step_error(spec: &str, frame: &Frame) -> String {
    let spec: TransformSpec = parse_spec(spec).unwrap_or_else(|e| panic!("spec: {e}"));
    fit(&spec, frame).map(|_| ()).expect_err("expected fit to fail").to_string()
}

#[test]
fn every_error_names_what_to_fix() {
    let credit = common::data_set("credit_data.csv");
    let err = step_error("steps:\n  - op: impute\n    strategy: mean\n    columns: [Incme]\n", &credit);
    assert!(
        err.starts_with("step 1 (impute): unknown column `Incme` (the columns are: Status, Seniority, Home"),
        "{err}"
    );
    let err = step_error("steps:\n  - op: filter\n    expr: 'Age > 20 and Hme = \"rent\"'\n", &credit);
    assert!(
        err.starts_with("step 1 (filter): filter `Age > 20 and Hme = \"rent\"`: unknown column `Hme`"),
        "{err}"
    );
    assert!(err.ends_with("at character 14"), "{err}");
    let err = step_error("steps:\n  - op: filter\n    expr: 'Age > \"old\"'\n", &credit);
    assert!(err.contains("column `Age` is int but is compared with string \"old\" at character 7"), "{err}");
    let err = step_error("steps:\n  - op: impute\n    strategy: median\n    columns: [Home]\n", &credit);
    assert!(err.ends_with("column `Home` is string: mean and median need an int or float column: use most_frequent or constant"), "{err}");
    let err = step_error("steps:\n  - op: standard_scale\n    columns: [Job]\n", &credit);
    assert_eq!(
        err,
        "step 1 (standard_scale): column `Job` is string: scaling needs an int or float column: encode it first"
    );
    // Assets has zeros: ln(0) is not a number. Row 0 of credit_data has Assets 0.
    let err = step_error("steps:\n  - op: log\n    columns: [Assets]\n", &credit);
    assert_eq!(err, "step 1 (log): column `Assets`, row 0: ln(x + 0) needs x > 0, got 0");
    // Row numbers stay those of the input after a filter.
    let err = step_error(
        "steps:\n  - op: filter\n    expr: Assets > 0 or Seniority > 10\n  - op: log\n    columns: [Assets]\n",
        &credit,
    );
    assert_eq!(err, "step 2 (log): column `Assets`, row 1: ln(x + 0) needs x > 0, got 0");
    // Home has a real category called `other`: with 5 kept it clashes with the fold column.
    let err = step_error("steps:\n  - op: one_hot\n    columns: [Home]\n    max_categories: 5\n", &credit);
    assert_eq!(
        err,
        "step 1 (one_hot): the step would create column `Home_other`, which already exists: rename or drop that column first"
    );
    let err = step_error("steps:\n  - op: date_parts\n    columns: [Time]\n    parts: [year]\n", &credit);
    assert_eq!(err, "step 1 (date_parts): column `Time` is int: date_parts needs a timestamp column");
    let err = step_error(
        "steps:\n  - op: filter\n    expr: Age > 100\n  - op: impute\n    strategy: mean\n",
        &credit,
    );
    assert_eq!(err, "step 2 (impute): column `Seniority` has no values to learn the mean from");
    let err = step_error("target: Label\nsteps: []\n", &credit);
    assert!(err.starts_with("unknown column `Label`"), "{err}");

    let err = to_matrix(&credit, Some("Status")).unwrap_err();
    assert_eq!(err.to_string(), "column `Home` is a string: add one_hot or ordinal for it");
    let numeric = Frame {
        columns: credit.columns.iter().filter(|c| c.data.column_type().is_numeric()).cloned().collect(),
    };
    let err = to_matrix(&numeric, None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "column `Income` has 381 missing values after preparation: add an impute step"
    );

    let spec = parse_spec("steps:\n  - op: ordinal\n    columns: [Home]\n    unknown: error\n").unwrap();
    let fitted = fit(&spec, &credit.take(&[0, 1, 2])).unwrap();
    let rows: Vec<usize> = (0..50).collect();
    let err = apply(&fitted, &credit.take(&rows)).unwrap_err();
    assert!(err.to_string().starts_with("step 1 (ordinal): column `Home`, row "), "{err}");
    assert!(matches!(err.root(), PrepareError::UnknownCategory { .. }));

    let penguins = common::data_set("penguins.csv");
    let lonely =
        Frame::new(vec![penguins.column("species").unwrap().clone()]).unwrap().take(&[0, 1, 200, 300, 301]);
    let err =
        split(&SplitSpec::Stratified { column: "species".into(), test_fraction: 0.4, seed: 0 }, &lonely)
            .unwrap_err();
    let ColumnData::Str(s) = &lonely.columns[0].data else { unreachable!() };
    let single = s.iter().flatten().find(|c| s.iter().flatten().filter(|d| d == c).count() == 1).unwrap();
    assert_eq!(err, PrepareError::SingletonClass { column: "species".into(), class: single.clone() });
}
