//! Word lists the sample builds its names from, and helpers that turn names into slugs.

/// Business domains: project groups, generated project names and library variable sets.
pub(crate) const DOMAINS: &[&str] = &[
    "Billing",
    "Catalog",
    "Checkout",
    "Fulfilment",
    "Identity",
    "Logistics",
    "Marketing",
    "Search",
    "Analytics",
    "Support",
    "Risk",
    "Pricing",
    "Inventory",
    "Shipping",
    "Loyalty",
    "Partners",
    "Compliance",
    "Notifications",
    "Media",
    "Payroll",
    "Recruiting",
    "Reviews",
    "Subscriptions",
    "Warehousing",
    "Returns",
    "Ledger",
    "Procurement",
    "Scheduling",
    "Onboarding",
    "Messaging",
];

/// What a generated project is: `Billing API`, `Search Indexer`.
pub(crate) const COMPONENTS: &[&str] = &[
    "API",
    "Web",
    "Worker",
    "Scheduler",
    "Gateway",
    "Service",
    "Portal",
    "Sync",
    "Importer",
    "Exporter",
    "Reports",
    "Admin",
    "Indexer",
    "Mobile Backend",
    "Batch Jobs",
    "Event Processor",
    "Cache Warmer",
    "Webhooks",
    "Data Pipeline",
    "Frontend",
];

/// Kinds of library variable set generated per domain: `Billing messaging`.
pub(crate) const LIBRARY_SET_KINDS: &[&str] = &[
    "shared settings",
    "secrets",
    "feature flags",
    "integrations",
    "observability",
    "messaging",
    "storage",
];

/// The first parts of generated variable names: `Api.Database.Server`.
pub(crate) const VARIABLE_PREFIXES: &[&str] = &[
    "Api",
    "Web",
    "Worker",
    "Scheduler",
    "Gateway",
    "Reporting",
    "Search",
    "Identity",
    "Payments",
    "Notifications",
    "Storage",
    "Analytics",
];

/// Customers: tenants are named `{first} {second}`, then `{first} {second} ({city})`.
pub(crate) const TENANT_FIRST: &[&str] = &[
    "Blue Harbor",
    "Contoso",
    "Fabrikam",
    "Wide World",
    "Tailspin",
    "Adventure Works",
    "Litware",
    "Proseware",
    "Woodgrove",
    "Alpine",
    "Coho",
    "Lucerne",
    "Wingtip",
    "Fourth Coffee",
    "Trey",
    "Margie's",
    "Graphic Design",
    "Humongous",
    "Southridge",
    "Datum",
    "Relecloud",
    "VanArsdel",
    "Lamna",
    "Munson's",
    "Nod",
    "Bellows",
    "Fincher",
    "Kavanagh",
    "Ostrava",
    "Sierra",
];
pub(crate) const TENANT_SECOND: &[&str] = &[
    "Bank",
    "Health",
    "Retail",
    "Insurance",
    "Airlines",
    "Foods",
    "Energy",
    "Media",
    "Labs",
    "Motors",
    "Pharma",
    "Telecom",
    "Hotels",
    "Shipping",
    "University",
    "Logistics",
    "Outfitters",
    "Travel",
    "Studios",
    "Holdings",
];
pub(crate) const CITIES: &[&str] = &[
    "Lyon",
    "Osaka",
    "Denver",
    "Porto",
    "Gdańsk",
    "Malmö",
    "Toronto",
    "Perth",
    "Bogotá",
    "Kraków",
    "Nairobi",
    "Seoul",
    "Dublin",
    "Montréal",
    "Córdoba",
    "Reykjavík",
];

pub(crate) const FIRST_NAMES: &[&str] = &[
    "Alice", "Bob", "Carol", "David", "Erin", "Farid", "Grace", "Hiro", "Ingrid", "Jamal", "Kenji",
    "Lucía", "Mateo", "Nadia", "Olga", "Priya", "Quentin", "Rosa", "Sven", "Tomás", "Uma",
    "Viktor", "Wei", "Zoë",
];
pub(crate) const LAST_NAMES: &[&str] = &[
    "Johnson",
    "Smith",
    "Nakamura",
    "Müller",
    "García",
    "Okafor",
    "Rossi",
    "Kowalski",
    "Andersson",
    "Dubois",
    "Silva",
    "Chen",
    "Patel",
    "Novak",
    "Haddad",
    "Kim",
    "O'Brien",
    "Jensen",
    "Moreau",
    "Ivanova",
    "Santos",
    "Fischer",
    "Yilmaz",
    "Costa",
    "Lindqvist",
];

/// Regions for the regional environments of the bigger samples: (name, slug).
pub(crate) const REGIONS: &[(&str, &str)] = &[
    ("EU West", "euw"),
    ("US East", "use"),
    ("Australia East", "aue"),
    ("EU Central", "euc"),
    ("UK South", "uks"),
    ("US West", "usw"),
    ("Canada Central", "cac"),
    ("Brazil South", "brs"),
    ("Singapore", "sgp"),
    ("Japan East", "jpe"),
    ("India Central", "inc"),
    ("South Africa North", "zan"),
];

/// Lines of release notes.
pub(crate) const CHANGES: &[&str] = &[
    "Fixed a race condition when two requests update the same record",
    "Upgraded to .NET 8.0.11",
    "Added retry with exponential back-off to outbound HTTP calls",
    "Reduced memory use of the nightly import by 40%",
    "New endpoint for bulk updates",
    "Fixed time-zone handling of scheduled jobs",
    "Improved logging around authentication failures",
    "Removed the deprecated v1 endpoints",
    "Added health checks for the message queue",
    "Fixed pagination when filtering by date",
    "Updated third-party dependencies for security advisories",
    "Feature flag for the new checkout flow",
];

/// Why someone deployed: deployment comments.
pub(crate) const COMMENTS: &[&str] = &[
    "",
    "",
    "",
    "Scheduled release window",
    "Hotfix for incident INC-4821",
    "Redeploy after config change",
    "Approved in CAB on Tuesday",
    "Customer requested early access",
];

/// A slug for DNS names and package ids: ASCII lowercase words joined by `-`.
pub(crate) fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars().flat_map(fold) {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') && c != '\'' {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_owned()
}

/// PascalCase for .NET package ids: `Payments/API` becomes `PaymentsApi`.
pub(crate) fn pascal(name: &str) -> String {
    slug(name)
        .split('-')
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// The ASCII letter a Latin letter with a diacritic stands for (enough for the word lists).
fn fold(c: char) -> Option<char> {
    Some(match c {
        'á' | 'à' | 'â' | 'ä' | 'å' => 'a',
        'é' | 'è' | 'ê' | 'ë' => 'e',
        'í' | 'ì' | 'î' | 'ï' => 'i',
        'ó' | 'ò' | 'ô' | 'ö' | 'ø' => 'o',
        'ú' | 'ù' | 'û' | 'ü' => 'u',
        'ñ' | 'ń' => 'n',
        'ç' | 'ć' => 'c',
        'ś' => 's',
        'ł' => 'l',
        'ż' | 'ź' => 'z',
        'Á' | 'Ä' | 'Å' => 'A',
        'É' => 'E',
        'Ö' | 'Ø' => 'O',
        'Ü' => 'U',
        _ => c,
    })
}

/// The `i`-th combination of a word of a list of `first` words with a word of a list of `second`
/// words: distinct for every `i` below `first * second`; past that, `round` counts how many times
/// the combinations have been used up (callers add a distinguishing word). The second word moves
/// diagonally, so that neighbours do not all share their first word.
pub(crate) fn combination(i: usize, first: usize, second: usize) -> Combination {
    let block = first * second;
    let j = i % block;
    let a = j % first;
    Combination {
        first: a,
        second: (j / first + a) % second,
        round: i / block,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Combination {
    pub first: usize,
    pub second: usize,
    pub round: usize,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn slugs_and_pascal_case() {
        assert_eq!(slug("Payments/API"), "payments-api");
        assert_eq!(slug("Intranet."), "intranet");
        assert_eq!(slug("Café Zürich"), "cafe-zurich");
        assert_eq!(slug("Margie's Travel"), "margies-travel");
        assert_eq!(pascal("Payments/API"), "PaymentsApi");
        assert_eq!(pascal("Order Service"), "OrderService");
    }

    #[test]
    fn combinations_are_unique() {
        let (first, second) = (7, 5);
        let all: BTreeSet<Combination> = (0..first * second * 3)
            .map(|i| combination(i, first, second))
            .collect();
        assert_eq!(all.len(), first * second * 3);
        assert!(
            all.iter()
                .all(|c| c.first < first && c.second < second && c.round < 3)
        );
    }
}
