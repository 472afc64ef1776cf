//! The loader never panics: seeded random mutations of the example specs
//! (bytes flipped, lines dropped, duplicated or swapped) must each load or
//! fail with problems, and every problem must point inside the file.

use std::panic;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*: small, seeded, reproducible.
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const BYTES: &[u8] = b" :-[]{}#&*!|>'\"%@`,?\n\t0123456789abcxyz.~\\";

fn mutate(text: &str, rng: &mut Rng) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for _ in 0..1 + rng.below(4) {
        let i = rng.below(lines.len());
        match rng.below(5) {
            0 => {
                lines.remove(i);
            }
            1 => {
                let l = lines[i].clone();
                lines.insert(i, l);
            }
            2 => {
                let j = rng.below(lines.len());
                lines.swap(i, j);
            }
            _ => {
                let mut bytes = lines[i].clone().into_bytes();
                let at = rng.below(bytes.len() + 1);
                bytes.insert(at, BYTES[rng.below(BYTES.len())]);
                lines[i] = String::from_utf8_lossy(&bytes).into_owned();
            }
        }
        if lines.is_empty() {
            break;
        }
    }
    lines.join("\n")
}

#[test]
fn mutated_specs_never_panic_the_loader() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let mut rng = Rng(0x5EED_D10C_0FFE_E123);
    let mut failures = 0;
    for name in ["specs/disease-prediction.yaml", "specs/minimal.yaml"] {
        let original = std::fs::read_to_string(format!("{root}/{name}")).unwrap();
        for round in 0..600 {
            let text = mutate(&original, &mut rng);
            let result = panic::catch_unwind(|| dxops_spec::spec::load("mutant.yaml", &text));
            match result {
                Err(_) => panic!("loader panicked on mutation {round} of {name}:\n{text}"),
                Ok(Ok(_)) => {}
                Ok(Err(problems)) => {
                    failures += 1;
                    assert!(!problems.is_empty());
                    for p in problems {
                        assert!(
                            p.span.offset + p.span.len <= text.len(),
                            "span outside the file: {p:?}"
                        );
                        assert!(p.span.line >= 1, "{p:?}\n{text}");
                    }
                }
            }
        }
    }
    assert!(
        failures > 100,
        "mutations should break most specs; only {failures} did"
    );
}

#[test]
fn empty_and_multi_document_files_are_problems_at_the_start() {
    for text in ["", "# only a comment\n", "a: 1\n---\nb: 2\n"] {
        let problems = dxops_spec::spec::load("odd.yaml", text).unwrap_err();
        assert_eq!(
            problems[0].code,
            dxops_spec::spec::Code::YamlSyntax,
            "{text:?}"
        );
        assert_eq!((problems[0].span.line, problems[0].span.col), (1, 1));
    }
}

/// Nesting, aliases and size are bounded before any tree is built, so a
/// hostile file is a diagnostic, never a stack overflow or an exhausted heap.
#[test]
fn deep_nesting_many_aliases_and_huge_files_are_refused_with_a_position() {
    let mut block = String::from("version: 1\nname: x\ntags:\n");
    for i in 0..1_000 {
        block.push_str(&" ".repeat(i + 1));
        block.push_str("-\n");
    }
    let flow = format!(
        "version: 1\ntags: {}{}\n",
        "[".repeat(20_000),
        "]".repeat(20_000)
    );
    let mut aliases = String::from("version: 1\nx: &a [1, 2]\n");
    for i in 0..100 {
        aliases.push_str(&format!("y{i}: *a\n"));
    }
    let huge = format!("version: 1\nname: \"{}\"\n", "a".repeat(5 * 1024 * 1024));
    for (text, needle) in [
        (block, "collections nested"),
        (flow, ""),
        (aliases, "aliases"),
        (huge, "bytes"),
    ] {
        let problems = dxops_spec::spec::load("hostile.yaml", &text).unwrap_err();
        assert_eq!(problems[0].code, dxops_spec::spec::Code::YamlSyntax);
        assert!(
            problems[0].message.contains(needle),
            "{}",
            problems[0].message
        );
    }
}
