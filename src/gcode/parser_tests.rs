//! Data-driven tests of the line parser: one rendered line per input line.

use expect_test::{Expect, expect};

use super::*;

fn render(line: &Line<'_>) -> String {
    let mut out = format!("{}@{}", line.number, line.offset);
    match line.command {
        Some(Command::Code { letter, number, sub }) => {
            out.push_str(&format!(" {}{}", letter as char, number));
            if let Some(s) = sub {
                out.push_str(&format!(".{s}"));
            }
        }
        Some(Command::Extended(name)) => out.push_str(&format!(" ext:{}", String::from_utf8_lossy(name))),
        None => out.push_str(" -"),
    }
    if !line.words.is_empty() {
        out.push_str(&format!(" [{:?}]", line.words));
    }
    if !line.code.is_empty() {
        out.push_str(&format!(" code={:?}", String::from_utf8_lossy(line.code)));
    }
    if let Some(c) = line.comment {
        out.push_str(&format!(" comment={:?}", String::from_utf8_lossy(c)));
    }
    if let Some(n) = line.line_number {
        out.push_str(&format!(" N{n}"));
    }
    if let Some(c) = line.checksum {
        out.push_str(&format!(" *{c}"));
    }
    let i = line.issues;
    let flags = [
        (i.junk, "junk"),
        (i.binary, "binary"),
        (i.bad_number, "bad_number"),
        (i.duplicate_word, "duplicate_word"),
        (i.checksum_mismatch, "checksum_mismatch"),
        (i.overlong, "overlong"),
    ];
    let set: Vec<&str> = flags.iter().filter(|f| f.0).map(|f| f.1).collect();
    if !set.is_empty() {
        out.push_str(&format!(" !{}", set.join(",")));
    }
    out
}

fn check(input: &[u8], expect: Expect) {
    let out: Vec<String> = lines(input).map(|l| render(&l)).collect();
    let mut streamed = Vec::new();
    let mut p = StreamParser::new(DEFAULT_MAX_LINE);
    for chunk in input.chunks(7) {
        p.feed(chunk, |l| streamed.push(render(l)));
    }
    p.finish(|l| streamed.push(render(l)));
    assert_eq!(out, streamed, "slice and stream parsing disagree");
    expect.assert_eq(&(out.join("\n") + "\n"));
}

#[test]
fn slicer_lines() {
    check(
        b"G1 X97.626 Y98.627 E.01632\nG1 Z.2 F720\n;TYPE:External perimeter\nM73 P12 R34\nT0\nG29.1\n",
        expect![[r#"
            1@0 G1 [E0.01632 X97.626 Y98.627] code="G1 X97.626 Y98.627 E.01632"
            2@27 G1 [F720 Z0.2] code="G1 Z.2 F720"
            3@39 - comment="TYPE:External perimeter"
            4@64 M73 [P12 R34] code="M73 P12 R34"
            5@76 T0 code="T0"
            6@79 G29.1 code="G29.1"
        "#]],
    );
}

#[test]
fn odd_but_valid_spellings() {
    check(
        b"g1 x10 y-0 e+3\nG 1 X 10.5\nG1X10Y20E.5F1200\nG28 X Y\nG1 X1e3 E2\nX5 Y5\n",
        expect![[r#"
            1@0 G1 [E3 X10 Y-0] code="g1 x10 y-0 e+3"
            2@15 G1 [X10.5] code="G 1 X 10.5"
            3@26 G1 [E0.5 F1200 X10 Y20] code="G1X10Y20E.5F1200"
            4@43 G28 [X Y] code="G28 X Y"
            5@51 G1 [E2 X1000] code="G1 X1e3 E2"
            6@62 - [X5 Y5] code="X5 Y5"
        "#]],
    );
}

#[test]
fn comments_anywhere() {
    check(
        b"G1 X1 ; move\n(paren only)\nG1 (inline) X2 ; and more\n;\nG1 X3 (unclosed\n  ;  indented\n",
        expect![[r#"
            1@0 G1 [X1] code="G1 X1" comment=" move"
            2@13 - comment="paren only"
            3@26 G1 [X2] code="G1 (inline) X2" comment=" and more"
            4@52 - comment=""
            5@54 G1 [X3] code="G1 X3" comment="unclosed"
            6@70 - comment="  indented"
        "#]],
    );
}

#[test]
fn line_numbers_and_checksums() {
    check(
        b"N10 G1 X5*84\nN11 G1 X5*99\nN12 M110*abc\nN13 G28*33 ; c\n",
        expect![[r#"
            1@0 G1 [X5] code="N10 G1 X5" N10 *84
            2@13 G1 [X5] code="N11 G1 X5" N11 *99 !checksum_mismatch
            3@26 M110 code="N12 M110" N12 !checksum_mismatch
            4@39 G28 code="N13 G28" comment=" c" N13 *33
        "#]],
    );
}

#[test]
fn text_arguments_and_extended_commands() {
    check(
        b"M117 Hello; world\nM486 S0 A\"cube id:0\"\nM862.3 P \"MK3S\"\nG1 X0 Y{machine_depth} ; placeholder\n\
          EXCLUDE_OBJECT_DEFINE NAME=cube CENTER=1,2 ; def\nprint_start BED=60\nM23 /sd/a b.gco\nNOZZLE_CLEAN\n",
        expect![[r#"
            1@0 M117 code="M117 Hello" comment=" world"
            2@18 M486 [A S0] code="M486 S0 A\"cube id:0\""
            3@39 M862.3 [P] code="M862.3 P \"MK3S\""
            4@55 G1 [X0 Y] code="G1 X0 Y{machine_depth}" comment=" placeholder" !junk
            5@92 ext:EXCLUDE_OBJECT_DEFINE code="EXCLUDE_OBJECT_DEFINE NAME=cube CENTER=1,2" comment=" def"
            6@141 ext:print_start code="print_start BED=60"
            7@160 M23 code="M23 /sd/a b.gco"
            8@176 ext:NOZZLE_CLEAN code="NOZZLE_CLEAN"
        "#]],
    );
}

#[test]
fn junk_binary_and_bad_numbers() {
    check(
        b"G1 X1 #\x01\nhello world\n\x00\x00\x00\xff\xfe\nG1 X1e999 Y2\nG1 X1 X2\n2.5.5\nG1 X2.5.5\n\
          \xc3\xa9t\xc3\xa9\n;caf\xc3\xa9 ok\n",
        expect![[r#"
            1@0 G1 [X1] code="G1 X1 #\u{1}" !junk,binary
            2@9 ext:hello code="hello world"
            3@21 - code="\0\0\0��" !junk,binary
            4@27 G1 [X Y2] code="G1 X1e999 Y2" !bad_number
            5@40 G1 [X2] code="G1 X1 X2" !duplicate_word
            6@49 - code="2.5.5" !junk
            7@55 G1 [X2.5] code="G1 X2.5.5" !junk
            8@65 - code="été" !junk
            9@71 - comment="café ok"
        "#]],
    );
}

#[test]
fn words_iterate_and_look_up() {
    let line = lines(b"G1 x1 Y2 e-3 Z").next().unwrap();
    assert_eq!(line.words.get(b'X'), Some(1.0));
    assert_eq!(line.words.get(b'e'), Some(-3.0));
    assert_eq!(line.words.get(b'Z'), None);
    assert!(line.words.has(b'Z'));
    assert!(!line.words.has(b'F'));
    assert_eq!(line.words.get(b'#'), None);
    assert_eq!(line.words.len(), 4);
    assert!(line.command.unwrap().is(b'G', 1));
}

#[test]
fn every_byte_value_survives() {
    // Each byte alone, and after a word, must parse without panicking.
    for b in 0..=255u8 {
        for prefix in [&b""[..], b"G1 X", b"M486 A", b"N", b"(", b"*", b";"] {
            let mut input = prefix.to_vec();
            input.push(b);
            input.extend_from_slice(b"5");
            for _ in lines(&input) {}
        }
    }
}
