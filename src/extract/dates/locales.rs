//! Dates in other languages, as data: one table per language, one translation routine for all.
//!
//! Rather than a parser per language, a date text in a known language is rewritten into the
//! English forms the built-in parser already reads: month names become `jan` ... `dec`, weekday
//! names vanish, "heute"/"hier"/"昨天" become "today"/"yesterday", "vor 2 Tagen", "il y a 3
//! heures", "3時間前" become "2 days ago", "3 hours ago", numeric day-first dates (`15/10/2020`)
//! and CJK dates (`2020年10月15日`, `2020년 10월 15일`) become ISO dates, and clock notations
//! (`18h30`, `18時30分`, `오후 3:20`) become `18:30` / `3:20 pm`. Adding a language is adding a
//! table. The parser tries the rewritten text first, then the original.

use std::sync::{LazyLock, OnceLock};

use regex::{Captures, Regex};

/// The units of a relative phrase, in the English words the built-in parser reads.
#[derive(Clone, Copy)]
enum Unit {
    Seconds,
    Minutes,
    Hours,
    Days,
    Weeks,
    Months,
    Years,
}

impl Unit {
    fn english(self) -> &'static str {
        match self {
            Unit::Seconds => "seconds",
            Unit::Minutes => "minutes",
            Unit::Hours => "hours",
            Unit::Days => "days",
            Unit::Weeks => "weeks",
            Unit::Months => "months",
            Unit::Years => "years",
        }
    }
}

use Unit::{Days, Hours, Minutes, Months, Seconds, Weeks, Years};

/// One language's words. Every word is lower case; the text is lower-cased before matching.
struct Table {
    /// Primary language subtag (`de`, `pt`, `zh`).
    code: &'static str,
    /// Month names by month, full and abbreviated, with the case endings in use.
    months: [&'static [&'static str]; 12],
    /// Weekday names that are removed wherever they stand.
    weekdays: &'static [&'static str],
    /// Abbreviated weekday names, removed only at the start of the text and before `.` or `,`
    /// (they often spell month abbreviations too: Spanish `mar.` is Tuesday and March).
    weekday_abbreviations: &'static [&'static str],
    today: &'static [&'static str],
    yesterday: &'static [&'static str],
    before_yesterday: &'static [&'static str],
    /// Words that open a relative phrase ("vor", "il y a", "hace") ...
    ago_before: &'static [&'static str],
    /// ... or close it ("fa", "geleden", "назад", "前", "전").
    ago_after: &'static [&'static str],
    units: &'static [(&'static str, Unit)],
    /// Words for "one" ("ein", "une", "un'").
    one: &'static [&'static str],
    /// Words between a date and its time ("um", "à", "a las"), read as "at".
    at: &'static [&'static str],
    /// Filler words removed ("de" in "15 de octubre de 2020", "Uhr", "г.").
    filler: &'static [&'static str],
    /// `15/10/2020` is day-month-year.
    day_first: bool,
    /// Written without spaces between words (no word boundaries to rely on).
    cjk: bool,
}

const NONE: &[&str] = &[];

static TABLES: &[Table] = &[
    Table {
        code: "de",
        months: [
            &["januar", "jänner", "jan", "jän"],
            &["februar", "feber", "feb"],
            &["märz", "maerz", "mär", "mrz"],
            &["april", "apr"],
            &["mai"],
            &["juni", "jun"],
            &["juli", "jul"],
            &["august", "aug"],
            &["september", "sept", "sep"],
            &["oktober", "okt"],
            &["november", "nov"],
            &["dezember", "dez"],
        ],
        weekdays: &[
            "montag",
            "dienstag",
            "mittwoch",
            "donnerstag",
            "freitag",
            "samstag",
            "sonnabend",
            "sonntag",
        ],
        weekday_abbreviations: &["mo", "di", "mi", "do", "fr", "sa", "so"],
        today: &["heute"],
        yesterday: &["gestern"],
        before_yesterday: &["vorgestern"],
        ago_before: &["vor"],
        ago_after: NONE,
        units: &[
            ("sekunden", Seconds),
            ("sekunde", Seconds),
            ("sek", Seconds),
            ("minuten", Minutes),
            ("minute", Minutes),
            ("min", Minutes),
            ("stunden", Hours),
            ("stunde", Hours),
            ("std", Hours),
            ("tagen", Days),
            ("tage", Days),
            ("tag", Days),
            ("wochen", Weeks),
            ("woche", Weeks),
            ("monaten", Months),
            ("monate", Months),
            ("monat", Months),
            ("jahren", Years),
            ("jahre", Years),
            ("jahr", Years),
        ],
        one: &["einem", "einer", "einen", "eine", "ein"],
        at: &["um"],
        filler: &["uhr"],
        day_first: true,
        cjk: false,
    },
    Table {
        code: "fr",
        months: [
            &["janvier", "janv", "jan"],
            &["février", "fevrier", "févr", "fevr", "fév", "fev"],
            &["mars"],
            &["avril", "avr"],
            &["mai"],
            &["juin"],
            &["juillet", "juil"],
            &["août", "aout"],
            &["septembre", "sept"],
            &["octobre", "oct"],
            &["novembre", "nov"],
            &["décembre", "decembre", "déc", "dec"],
        ],
        weekdays: &[
            "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche",
        ],
        weekday_abbreviations: &["lun", "mar", "mer", "jeu", "ven", "sam", "dim"],
        today: &["aujourd'hui", "aujourd’hui"],
        yesterday: &["hier"],
        before_yesterday: &["avant-hier", "avant hier"],
        ago_before: &["il y a"],
        ago_after: NONE,
        units: &[
            ("secondes", Seconds),
            ("seconde", Seconds),
            ("sec", Seconds),
            ("minutes", Minutes),
            ("minute", Minutes),
            ("min", Minutes),
            ("heures", Hours),
            ("heure", Hours),
            ("h", Hours),
            ("jours", Days),
            ("jour", Days),
            ("j", Days),
            ("semaines", Weeks),
            ("semaine", Weeks),
            ("mois", Months),
            ("années", Years),
            ("annees", Years),
            ("année", Years),
            ("annee", Years),
            ("ans", Years),
            ("an", Years),
        ],
        one: &["une", "un"],
        at: &["à", "a"],
        filler: &["le"],
        day_first: true,
        cjk: false,
    },
    Table {
        code: "es",
        months: [
            &["enero", "ene"],
            &["febrero", "feb"],
            &["marzo", "mar"],
            &["abril", "abr"],
            &["mayo", "may"],
            &["junio", "jun"],
            &["julio", "jul"],
            &["agosto", "ago"],
            &["septiembre", "setiembre", "sept", "sep", "set"],
            &["octubre", "oct"],
            &["noviembre", "nov"],
            &["diciembre", "dic"],
        ],
        weekdays: &[
            "lunes",
            "martes",
            "miércoles",
            "miercoles",
            "jueves",
            "viernes",
            "sábado",
            "sabado",
            "domingo",
        ],
        weekday_abbreviations: &[
            "lun", "mar", "mié", "mie", "jue", "vie", "sáb", "sab", "dom",
        ],
        today: &["hoy"],
        yesterday: &["ayer"],
        before_yesterday: &["anteayer", "antes de ayer", "antier"],
        ago_before: &["hace"],
        ago_after: NONE,
        units: &[
            ("segundos", Seconds),
            ("segundo", Seconds),
            ("seg", Seconds),
            ("minutos", Minutes),
            ("minuto", Minutes),
            ("min", Minutes),
            ("horas", Hours),
            ("hora", Hours),
            ("h", Hours),
            ("días", Days),
            ("dias", Days),
            ("día", Days),
            ("dia", Days),
            ("semanas", Weeks),
            ("semana", Weeks),
            ("meses", Months),
            ("mes", Months),
            ("años", Years),
            ("anos", Years),
            ("año", Years),
            ("ano", Years),
        ],
        one: &["una", "uno", "un"],
        at: &["a las", "a la"],
        filler: &["de", "del"],
        day_first: true,
        cjk: false,
    },
    Table {
        code: "it",
        months: [
            &["gennaio", "gen"],
            &["febbraio", "feb"],
            &["marzo", "mar"],
            &["aprile", "apr"],
            &["maggio", "mag"],
            &["giugno", "giu"],
            &["luglio", "lug"],
            &["agosto", "ago"],
            &["settembre", "set"],
            &["ottobre", "ott"],
            &["novembre", "nov"],
            &["dicembre", "dic"],
        ],
        weekdays: &[
            "lunedì",
            "lunedi",
            "martedì",
            "martedi",
            "mercoledì",
            "mercoledi",
            "giovedì",
            "giovedi",
            "venerdì",
            "venerdi",
            "sabato",
            "domenica",
        ],
        weekday_abbreviations: &["lun", "mar", "mer", "gio", "ven", "sab", "dom"],
        today: &["oggi"],
        yesterday: &["ieri"],
        before_yesterday: &["l'altro ieri", "l’altro ieri", "l'altroieri", "altroieri"],
        ago_before: NONE,
        ago_after: &["fa"],
        units: &[
            ("secondi", Seconds),
            ("secondo", Seconds),
            ("minuti", Minutes),
            ("minuto", Minutes),
            ("min", Minutes),
            ("ore", Hours),
            ("ora", Hours),
            ("giorni", Days),
            ("giorno", Days),
            ("settimane", Weeks),
            ("settimana", Weeks),
            ("mesi", Months),
            ("mese", Months),
            ("anni", Years),
            ("anno", Years),
        ],
        one: &["un'", "un’", "una", "uno", "un"],
        at: &["alle ore", "alle", "ore"],
        filler: NONE,
        day_first: true,
        cjk: false,
    },
    Table {
        code: "pt",
        months: [
            &["janeiro", "jan"],
            &["fevereiro", "fev"],
            &["março", "marco", "mar"],
            &["abril", "abr"],
            &["maio", "mai"],
            &["junho", "jun"],
            &["julho", "jul"],
            &["agosto", "ago"],
            &["setembro", "set"],
            &["outubro", "out"],
            &["novembro", "nov"],
            &["dezembro", "dez"],
        ],
        weekdays: &[
            "segunda-feira",
            "terça-feira",
            "terca-feira",
            "quarta-feira",
            "quinta-feira",
            "sexta-feira",
            "sábado",
            "sabado",
            "domingo",
        ],
        weekday_abbreviations: &["seg", "ter", "qua", "qui", "sex", "sáb", "sab", "dom"],
        today: &["hoje"],
        yesterday: &["ontem"],
        before_yesterday: &["anteontem"],
        ago_before: &["há", "ha"],
        ago_after: &["atrás", "atras"],
        units: &[
            ("segundos", Seconds),
            ("segundo", Seconds),
            ("minutos", Minutes),
            ("minuto", Minutes),
            ("min", Minutes),
            ("horas", Hours),
            ("hora", Hours),
            ("h", Hours),
            ("dias", Days),
            ("dia", Days),
            ("semanas", Weeks),
            ("semana", Weeks),
            ("meses", Months),
            ("mês", Months),
            ("mes", Months),
            ("anos", Years),
            ("ano", Years),
        ],
        one: &["uma", "um"],
        at: &["às", "as"],
        filler: &["de", "do"],
        day_first: true,
        cjk: false,
    },
    Table {
        code: "nl",
        months: [
            &["januari", "jan"],
            &["februari", "feb"],
            &["maart", "mrt", "mar"],
            &["april", "apr"],
            &["mei"],
            &["juni", "jun"],
            &["juli", "jul"],
            &["augustus", "aug"],
            &["september", "sept", "sep"],
            &["oktober", "okt"],
            &["november", "nov"],
            &["december", "dec"],
        ],
        weekdays: &[
            "maandag",
            "dinsdag",
            "woensdag",
            "donderdag",
            "vrijdag",
            "zaterdag",
            "zondag",
        ],
        weekday_abbreviations: &["ma", "di", "wo", "do", "vr", "za", "zo"],
        today: &["vandaag"],
        yesterday: &["gisteren"],
        before_yesterday: &["eergisteren"],
        ago_before: NONE,
        ago_after: &["geleden"],
        units: &[
            ("seconden", Seconds),
            ("seconde", Seconds),
            ("sec", Seconds),
            ("minuten", Minutes),
            ("minuut", Minutes),
            ("min", Minutes),
            ("uur", Hours),
            ("dagen", Days),
            ("dag", Days),
            ("weken", Weeks),
            ("week", Weeks),
            ("maanden", Months),
            ("maand", Months),
            ("jaren", Years),
            ("jaar", Years),
        ],
        one: &["één", "een"],
        at: &["om"],
        filler: &["uur"],
        day_first: true,
        cjk: false,
    },
    Table {
        code: "ru",
        months: [
            &["января", "январь", "янв"],
            &["февраля", "февраль", "фев"],
            &["марта", "март", "мар"],
            &["апреля", "апрель", "апр"],
            &["мая", "май"],
            &["июня", "июнь", "июн"],
            &["июля", "июль", "июл"],
            &["августа", "август", "авг"],
            &["сентября", "сентябрь", "сент", "сен"],
            &["октября", "октябрь", "окт"],
            &["ноября", "ноябрь", "ноя"],
            &["декабря", "декабрь", "дек"],
        ],
        weekdays: &[
            "понедельник",
            "вторник",
            "среда",
            "среду",
            "четверг",
            "пятница",
            "пятницу",
            "суббота",
            "субботу",
            "воскресенье",
        ],
        weekday_abbreviations: &["пн", "вт", "ср", "чт", "пт", "сб", "вс"],
        today: &["сегодня"],
        yesterday: &["вчера"],
        before_yesterday: &["позавчера"],
        ago_before: NONE,
        ago_after: &["назад"],
        units: &[
            ("секунды", Seconds),
            ("секунду", Seconds),
            ("секунд", Seconds),
            ("сек", Seconds),
            ("минуты", Minutes),
            ("минуту", Minutes),
            ("минут", Minutes),
            ("мин", Minutes),
            ("часов", Hours),
            ("часа", Hours),
            ("час", Hours),
            ("дней", Days),
            ("дня", Days),
            ("день", Days),
            ("недели", Weeks),
            ("неделю", Weeks),
            ("недель", Weeks),
            ("месяцев", Months),
            ("месяца", Months),
            ("месяц", Months),
            ("года", Years),
            ("год", Years),
            ("лет", Years),
        ],
        one: &["одну", "один", "одна"],
        at: &["в"],
        filler: &["года", "г."],
        day_first: true,
        cjk: false,
    },
    Table {
        code: "ja",
        months: [NONE; 12],
        weekdays: NONE,
        weekday_abbreviations: NONE,
        today: &["今日", "本日", "きょう"],
        yesterday: &["昨日", "きのう"],
        before_yesterday: &["一昨日", "おととい"],
        ago_before: NONE,
        ago_after: &["前"],
        units: &[
            ("秒", Seconds),
            ("分", Minutes),
            ("時間", Hours),
            ("日", Days),
            ("週間", Weeks),
            ("か月", Months),
            ("ヶ月", Months),
            ("カ月", Months),
            ("ヵ月", Months),
            ("年", Years),
        ],
        one: &["一"],
        at: NONE,
        filler: NONE,
        day_first: false,
        cjk: true,
    },
    Table {
        code: "ko",
        months: [NONE; 12],
        weekdays: NONE,
        weekday_abbreviations: NONE,
        today: &["오늘"],
        yesterday: &["어제"],
        before_yesterday: &["그저께", "그제"],
        ago_before: NONE,
        ago_after: &["전"],
        units: &[
            ("초", Seconds),
            ("분", Minutes),
            ("시간", Hours),
            ("일", Days),
            ("주", Weeks),
            ("개월", Months),
            ("달", Months),
            ("년", Years),
        ],
        one: &["한"],
        at: NONE,
        filler: NONE,
        day_first: false,
        cjk: true,
    },
    Table {
        code: "zh",
        months: [NONE; 12],
        weekdays: NONE,
        weekday_abbreviations: NONE,
        today: &["今天", "今日"],
        yesterday: &["昨天", "昨日"],
        before_yesterday: &["前天"],
        ago_before: NONE,
        ago_after: &["以前", "之前", "前"],
        units: &[
            ("秒钟", Seconds),
            ("秒鐘", Seconds),
            ("秒", Seconds),
            ("分钟", Minutes),
            ("分鐘", Minutes),
            ("分", Minutes),
            ("个小时", Hours),
            ("個小時", Hours),
            ("小时", Hours),
            ("小時", Hours),
            ("天", Days),
            ("日", Days),
            ("个星期", Weeks),
            ("個星期", Weeks),
            ("星期", Weeks),
            ("周", Weeks),
            ("週", Weeks),
            ("个月", Months),
            ("個月", Months),
            ("月", Months),
            ("年", Years),
        ],
        one: &["一"],
        at: NONE,
        filler: NONE,
        day_first: false,
        cjk: true,
    },
];

/// The languages with a table, for config checks and messages.
pub fn known() -> impl Iterator<Item = &'static str> {
    TABLES.iter().map(|t| t.code)
}

/// A table's words compiled into the patterns that rewrite a text.
pub(super) struct Language {
    table: &'static Table,
    /// Month words (with an optional trailing dot) -> index into `month_of`.
    months: Option<Regex>,
    month_of: Vec<(&'static str, usize)>,
    weekdays: Option<Regex>,
    weekday_abbreviations: Option<Regex>,
    day_words: Option<Regex>,
    ago: Option<Regex>,
    at: Option<Regex>,
    filler: Option<Regex>,
}

/// Words of a list as a regex alternation, longest first so "vorgestern" wins over "gestern".
fn alternation(words: &[&str]) -> Option<String> {
    if words.is_empty() {
        return None;
    }
    let mut sorted: Vec<&str> = words.to_vec();
    sorted.sort_by(|a, b| b.chars().count().cmp(&a.chars().count()).then(a.cmp(b)));
    Some(
        sorted
            .iter()
            .map(|w| regex::escape(w))
            .collect::<Vec<_>>()
            .join("|"),
    )
}

fn compile(pattern: &str) -> Option<Regex> {
    // The tables are fixed at build time; the unit tests compile every one of them.
    Some(super::compile(pattern))
}

/// `\b` where words are separated by spaces; nothing in scripts that do not separate words.
fn edge(table: &Table) -> &'static str {
    if table.cjk { "" } else { r"\b" }
}

impl Language {
    fn new(table: &'static Table) -> Language {
        let b = edge(table);
        let month_of: Vec<(&'static str, usize)> = table
            .months
            .iter()
            .enumerate()
            .flat_map(|(i, words)| words.iter().map(move |w| (*w, i)))
            .collect();
        let month_words: Vec<&str> = month_of.iter().map(|(w, _)| *w).collect();
        let months =
            alternation(&month_words).and_then(|alt| compile(&format!(r"{b}(?:{alt}){b}\.?")));
        let weekdays =
            alternation(table.weekdays).and_then(|alt| compile(&format!(r"{b}(?:{alt}){b}[.,]?")));
        let weekday_abbreviations = alternation(table.weekday_abbreviations)
            .and_then(|alt| compile(&format!(r"^(?:{alt})[.,]+")));
        let mut day_word_list: Vec<&str> = Vec::new();
        day_word_list.extend(table.today);
        day_word_list.extend(table.yesterday);
        day_word_list.extend(table.before_yesterday);
        let day_words =
            alternation(&day_word_list).and_then(|alt| compile(&format!(r"{b}(?:{alt}){b}")));
        let units: Vec<&str> = table.units.iter().map(|(w, _)| *w).collect();
        let ago = alternation(&units).and_then(|units| {
            let one = alternation(table.one).unwrap_or_else(|| "1".to_string());
            let amount = |name: &str| format!(r"(?P<{name}>[0-9]+|{one})");
            let mut forms = Vec::new();
            if let Some(before) = alternation(table.ago_before) {
                forms.push(format!(
                    r"{b}(?:{before})\s*{}\s*(?P<unit>{units}){b}",
                    amount("num")
                ));
            }
            if let Some(after) = alternation(table.ago_after) {
                forms.push(format!(
                    r"{}\s*(?P<unit2>{units})\s*(?:{after}){b}",
                    amount("num2")
                ));
            }
            if forms.is_empty() {
                return None;
            }
            compile(&forms.join("|"))
        });
        let at = alternation(table.at).and_then(|alt| compile(&format!(r"{b}(?:{alt}){b}")));
        let filler = alternation(table.filler)
            .and_then(|alt| compile(&format!(r"(?:^|\s)(?:{alt})(?:\s|$)")));
        Language {
            table,
            months,
            month_of,
            weekdays,
            weekday_abbreviations,
            day_words,
            ago,
            at,
            filler,
        }
    }

    fn month_index(&self, word: &str) -> Option<usize> {
        let word = word.trim_end_matches('.');
        self.month_of
            .iter()
            .find(|(w, _)| *w == word)
            .map(|(_, i)| *i)
    }

    fn unit(&self, word: &str) -> Option<Unit> {
        self.table
            .units
            .iter()
            .find(|(w, _)| *w == word)
            .map(|(_, u)| *u)
    }

    /// Rewrites `text` (already whitespace-collapsed) into the English forms the built-in
    /// parser reads. Returns the text unchanged, lower-cased, when nothing is recognised.
    pub(super) fn translate(&self, text: &str) -> String {
        let mut s = text.to_lowercase();
        // Relative phrases first: "3日前" is three days ago, not a date; Spanish "ago" would
        // otherwise be read as August below.
        if let Some(re) = &self.ago {
            s = re
                .replace_all(&s, |c: &Captures<'_>| {
                    let num = c
                        .name("num")
                        .or_else(|| c.name("num2"))
                        .map_or("1", |m| m.as_str());
                    let num = if num.bytes().all(|b| b.is_ascii_digit()) {
                        num
                    } else {
                        "1"
                    };
                    let unit = c
                        .name("unit")
                        .or_else(|| c.name("unit2"))
                        .and_then(|m| self.unit(m.as_str()));
                    match unit {
                        // Upper case keeps the later month pass from reading "ago" as
                        // Italian or Spanish August; it is lowered at the end.
                        Some(unit) => format!(" {num} {} AGO ", unit.english()),
                        None => c.get(0).map_or(String::new(), |m| m.as_str().to_string()),
                    }
                })
                .into_owned();
        }
        if let Some(re) = &self.day_words {
            s = re
                .replace_all(&s, |c: &Captures<'_>| {
                    let word = c.get(0).map_or("", |m| m.as_str());
                    if self.table.before_yesterday.contains(&word) {
                        " day before yesterday ".to_string()
                    } else if self.table.yesterday.contains(&word) {
                        " yesterday ".to_string()
                    } else {
                        " today ".to_string()
                    }
                })
                .into_owned();
        }
        if self.table.cjk {
            s = cjk_dates(&s);
        }
        if let Some(re) = &self.weekdays {
            s = re.replace_all(&s, " ").into_owned();
        }
        if let Some(re) = &self.weekday_abbreviations {
            s = re.replace(s.trim_start(), " ").into_owned();
        }
        if let Some(re) = &self.months {
            s = re
                .replace_all(&s, |c: &Captures<'_>| {
                    let Some(m) = c.get(0) else {
                        return String::new();
                    };
                    match self.month_index(m.as_str()) {
                        Some(i) if near_digit(&s, m.start(), m.end()) => {
                            format!(" {} ", ENGLISH_MONTHS.get(i).copied().unwrap_or(""))
                        }
                        _ => m.as_str().to_string(),
                    }
                })
                .into_owned();
        }
        // Ordinals: French "1er", Spanish and Portuguese "1º"/"1ª".
        s = ORDINAL.replace_all(&s, "$d").into_owned();
        if let Some(re) = &self.filler {
            // Twice: fillers may stand next to each other ("de ... de").
            for _ in 0..2 {
                s = re.replace_all(&s, " ").into_owned();
            }
        }
        if let Some(re) = &self.at {
            s = re.replace_all(&s, " at ").into_owned();
        }
        s = H_CLOCK.replace_all(&s, "$h:$m").into_owned();
        s = H_HOUR.replace_all(&s, "$h:00").into_owned();
        if self.table.day_first {
            s = DAY_FIRST.replace_all(&s, day_first_iso).into_owned();
        }
        s.split_whitespace()
            .map(|w| if w == "AGO" { "ago" } else { w })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

const ENGLISH_MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

/// A month abbreviation is only a month next to a number ("15 mar 2020", "mar. 15"): in prose,
/// "mar" or "set" may be other words.
fn near_digit(s: &str, start: usize, end: usize) -> bool {
    let before = s.get(..start).unwrap_or("");
    let after = s.get(end..).unwrap_or("");
    let before_tail: String = before.chars().rev().take(8).collect();
    let after_head: String = after.chars().take(8).collect();
    before_tail.chars().any(|c| c.is_ascii_digit())
        || after_head.chars().any(|c| c.is_ascii_digit())
}

static ORDINAL: LazyLock<Regex> =
    LazyLock::new(|| super::compile(r"\b(?P<d>[0-9]{1,2})(?:er|re|º|ª|°)"));

/// `18h30`, `18 h 30`: a clock time in French notation.
static H_CLOCK: LazyLock<Regex> =
    LazyLock::new(|| super::compile(r"\b(?P<h>[0-9]{1,2})\s?h\s?(?P<m>[0-9]{2})\b"));

/// `18h` alone.
static H_HOUR: LazyLock<Regex> = LazyLock::new(|| super::compile(r"\b(?P<h>[0-9]{1,2})h\b"));

/// `15/10/2020`, `15-10-2020`, `15/10/20` in a day-first language.
static DAY_FIRST: LazyLock<Regex> = LazyLock::new(|| {
    super::compile(r"\b(?P<d>[0-9]{1,2})[/-](?P<m>[0-9]{1,2})[/-](?P<y>[0-9]{4}|[0-9]{2})\b")
});

fn day_first_iso(c: &Captures<'_>) -> String {
    let part = |name: &str| c.name(name).map_or("", |m| m.as_str());
    let year = part("y");
    let year = if year.len() == 2 {
        // Two-digit years: 00-69 are this century, 70-99 the last (the POSIX pivot).
        match year.parse::<u32>() {
            Ok(y) if y < 70 => format!("20{year}"),
            _ => format!("19{year}"),
        }
    } else {
        year.to_string()
    };
    format!("{year}-{:0>2}-{:0>2}", part("m"), part("d"))
}

/// `2020年10月15日`, `2020년 10월 15일`, `10月15日`, `18時30分`, `午後3時`, `오후 3:20`.
fn cjk_dates(s: &str) -> String {
    let s = CJK_YMD.replace_all(s, |c: &Captures<'_>| {
        let part = |name: &str| c.name(name).map_or("", |m| m.as_str());
        format!(" {}-{:0>2}-{:0>2} ", part("y"), part("m"), part("d"))
    });
    let s = CJK_MD.replace_all(&s, |c: &Captures<'_>| {
        let month = c
            .name("m")
            .and_then(|m| m.as_str().parse::<usize>().ok())
            .and_then(|m| m.checked_sub(1))
            .and_then(|i| ENGLISH_MONTHS.get(i));
        match month {
            Some(name) => format!(" {name} {} ", c.name("d").map_or("", |m| m.as_str())),
            None => c.get(0).map_or(String::new(), |m| m.as_str().to_string()),
        }
    });
    let s = CJK_CLOCK.replace_all(&s, |c: &Captures<'_>| {
        let minute = c.name("min").map_or("00", |m| m.as_str());
        format!(" {}:{minute:0>2} ", c.name("h").map_or("", |m| m.as_str()))
    });
    let s = CJK_WEEKDAY.replace_all(&s, " ");
    let s = CJK_PM.replace_all(&s, " $t pm ");
    CJK_AM.replace_all(&s, " $t am ").into_owned()
}

static CJK_YMD: LazyLock<Regex> = LazyLock::new(|| {
    super::compile(
        r"(?P<y>[0-9]{4})\s*[年년]\s*(?P<m>[0-9]{1,2})\s*[月월]\s*(?P<d>[0-9]{1,2})\s*[日일号號]?",
    )
});
static CJK_MD: LazyLock<Regex> = LazyLock::new(|| {
    super::compile(r"(?P<m>[0-9]{1,2})\s*[月월]\s*(?P<d>[0-9]{1,2})\s*[日일号號]")
});
static CJK_CLOCK: LazyLock<Regex> = LazyLock::new(|| {
    super::compile(r"(?P<h>[0-9]{1,2})\s*[時时시点點]\s*(?:(?P<min>[0-9]{1,2})\s*[分분])?")
});
static CJK_WEEKDAY: LazyLock<Regex> = LazyLock::new(|| {
    super::compile(
        r"[(（]\s*[月火水木金土日월화수목금토일一二三四五六天]\s*(?:曜日?|요일)?\s*[)）]|[月火水木金土日]曜日?|[월화수목금토일]요일|(?:星期|礼拜|禮拜|周|週)[一二三四五六日天]",
    )
});
static CJK_PM: LazyLock<Regex> =
    LazyLock::new(|| super::compile(r"(?:午後|下午|오후)\s*(?P<t>[0-9]{1,2}(?::[0-9]{2})?)"));
static CJK_AM: LazyLock<Regex> =
    LazyLock::new(|| super::compile(r"(?:午前|上午|오전)\s*(?P<t>[0-9]{1,2}(?::[0-9]{2})?)"));

/// One slot per table, filled the first time a page of that language is read: compiling a
/// table's patterns costs far more than reading a page's dates, and most runs read one
/// language or none (English needs no table).
static LANGUAGES: LazyLock<Vec<OnceLock<Language>>> =
    LazyLock::new(|| TABLES.iter().map(|_| OnceLock::new()).collect());

/// The language of a tag such as `de`, `pt-BR`, `zh_Hant_TW`; None for English and for
/// languages without a table.
pub(super) fn language(tag: &str) -> Option<&'static Language> {
    let primary = tag.split(['-', '_']).next().unwrap_or("").trim();
    let at = TABLES
        .iter()
        .position(|t| t.code.eq_ignore_ascii_case(primary))?;
    let (table, slot) = TABLES.get(at).zip(LANGUAGES.get(at))?;
    Some(slot.get_or_init(|| Language::new(table)))
}

/// The primary subtag of a language tag, lower case: `pt-BR` -> `pt`.
pub(super) fn primary(tag: &str) -> String {
    tag.split(['-', '_'])
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_compiles_every_pattern_it_needs() {
        for table in TABLES {
            let l = Language::new(table);
            assert!(l.ago.is_some(), "{}: relative phrases", table.code);
            assert!(l.day_words.is_some(), "{}: day words", table.code);
            if !table.cjk {
                assert!(l.months.is_some(), "{}: months", table.code);
                assert!(l.weekdays.is_some(), "{}: weekdays", table.code);
            }
            for (i, words) in table.months.iter().enumerate() {
                for w in *words {
                    assert_eq!(l.month_index(w), Some(i), "{}: {w}", table.code);
                }
            }
        }
        // The fixed patterns compile (a failure would panic here, not on a page).
        for re in [
            &*ORDINAL,
            &*H_CLOCK,
            &*H_HOUR,
            &*DAY_FIRST,
            &*CJK_YMD,
            &*CJK_MD,
        ] {
            assert!(!re.as_str().is_empty());
        }
        for re in [&*CJK_CLOCK, &*CJK_WEEKDAY, &*CJK_PM, &*CJK_AM] {
            assert!(!re.as_str().is_empty());
        }
    }

    #[test]
    fn tags_pick_their_language() {
        assert_eq!(language("pt-BR").map(|l| l.table.code), Some("pt"));
        assert_eq!(language("zh_Hant_TW").map(|l| l.table.code), Some("zh"));
        assert_eq!(language("DE").map(|l| l.table.code), Some("de"));
        assert!(language("en-GB").is_none());
        assert!(language("").is_none());
        assert_eq!(known().count(), 10);
    }

    #[track_caller]
    fn tr(tag: &str, text: &str, want: &str) {
        let l = language(tag).expect("a known language");
        assert_eq!(l.translate(text), want, "{tag}: {text:?}");
    }

    #[test]
    fn rewrites_into_english_forms() {
        tr("de", "15. Oktober 2020", "15. oct 2020");
        tr("de", "Do., 15.10.2020, 18:00 Uhr", "15.10.2020, 18:00");
        tr("de", "vor 2 Tagen", "2 days ago");
        tr("de", "vor einer Stunde", "1 hours ago");
        tr("fr", "15 oct. 2020 à 18h30", "15 oct 2020 at 18:30");
        tr("fr", "jeudi 1er octobre 2020", "1 oct 2020");
        tr("fr", "il y a 3 heures", "3 hours ago");
        tr("es", "15 de octubre de 2020", "15 oct 2020");
        tr("es", "hace 5 minutos", "5 minutes ago");
        tr("es", "mar., 15 mar. 2020", "15 mar 2020");
        tr("it", "un'ora fa", "1 hours ago");
        tr(
            "pt",
            "15 de outubro de 2020 às 18:00",
            "15 oct 2020 at 18:00",
        );
        tr("nl", "3 dagen geleden", "3 days ago");
        tr("nl", "15-10-2020", "2020-10-15");
        tr("ru", "15 октября 2020 г.", "15 oct 2020");
        tr("ru", "2 часа назад", "2 hours ago");
        tr("ja", "2020年10月15日（木）18時30分", "2020-10-15 18:30");
        tr("ja", "3時間前", "3 hours ago");
        tr("ko", "2020년 10월 15일 오후 3:20", "2020-10-15 3:20 pm");
        tr("ko", "3시간 전", "3 hours ago");
        tr("zh", "昨天 18:00", "yesterday 18:00");
        tr("zh", "10月15日", "oct 15");
    }
}
