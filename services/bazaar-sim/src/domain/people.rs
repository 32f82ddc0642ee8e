//! Realistic buyers, addresses, invoice titles, waybills and a small catalog. Every generator
//! takes the RNG as an argument, so a seeded simulator produces the same people every run.

use super::money::Fen;
use super::trade::{InvoiceKind, InvoiceRequest, Receiver};
use rand::RngExt;
use rand::seq::IndexedRandom;

/// A generated buyer.
#[derive(Debug, Clone)]
pub struct Buyer {
    pub nick: String,
    pub receiver: Receiver,
}

const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭", "何", "林", "罗",
    "高", "郑", "梁", "谢", "宋", "唐", "许", "韩", "冯", "邓", "曹", "彭", "曾", "肖", "田", "董", "袁", "潘", "蒋",
    "蔡", "余", "杜", "叶", "程", "苏", "魏", "吕", "丁", "任", "沈", "姚", "卢", "姜", "崔", "钟", "谭", "陆", "汪",
    "范", "金", "石", "廖", "贾", "夏", "欧阳", "上官", "司马",
];
const GIVEN: &[&str] = &[
    "伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超",
    "秀兰", "霞", "平", "刚", "桂英", "浩然", "宇轩", "子涵", "欣怡", "梓萱", "思远", "雨桐", "一诺", "晨曦", "佳怡",
    "婷婷", "雪梅", "鹏飞", "俊杰", "凯文", "琳", "蕾", "小明", "建国", "志强", "海燕", "文博", "嘉怡", "诗涵", "梦琪",
    "子轩", "博文",
];
const NICK_WORDS: &[&str] = &[
    "快乐的小熊",
    "追风少年",
    "爱吃鱼的猫",
    "星星点灯",
    "柠檬不酸",
    "南风知我意",
    "一只咸鱼",
    "奶茶续命",
    "早睡早起",
    "小确幸",
    "月亮不睡我不睡",
    "吃土少女",
    "剁手党",
    "云淡风轻",
    "向日葵",
    "橘子汽水",
    "北漂打工人",
    "佛系青年",
];
const NICK_LATIN: &[&str] = &["lucky", "sunny", "coco", "momo", "xiaobai", "kiki", "tony", "amy", "leo", "candy"];

/// (province, city, district, zip, administrative division code)
const REGIONS: &[(&str, &str, &str, &str, &str)] = &[
    ("浙江省", "杭州市", "余杭区", "311121", "330110"),
    ("浙江省", "杭州市", "西湖区", "310012", "330106"),
    ("浙江省", "宁波市", "鄞州区", "315100", "330212"),
    ("广东省", "深圳市", "南山区", "518052", "440305"),
    ("广东省", "广州市", "天河区", "510630", "440106"),
    ("北京市", "北京市", "朝阳区", "100020", "110105"),
    ("北京市", "北京市", "海淀区", "100080", "110108"),
    ("上海市", "上海市", "浦东新区", "200120", "310115"),
    ("上海市", "上海市", "徐汇区", "200030", "310104"),
    ("江苏省", "南京市", "鼓楼区", "210009", "320106"),
    ("江苏省", "苏州市", "姑苏区", "215000", "320508"),
    ("四川省", "成都市", "武侯区", "610041", "510107"),
    ("湖北省", "武汉市", "洪山区", "430070", "420111"),
    ("陕西省", "西安市", "雁塔区", "710061", "610113"),
    ("山东省", "青岛市", "市南区", "266001", "370202"),
    ("福建省", "厦门市", "思明区", "361001", "350203"),
    ("湖南省", "长沙市", "岳麓区", "410006", "430104"),
    ("重庆市", "重庆市", "渝中区", "400010", "500103"),
    ("天津市", "天津市", "和平区", "300041", "120101"),
    ("河南省", "郑州市", "金水区", "450003", "410105"),
    ("辽宁省", "沈阳市", "和平区", "110001", "210102"),
    ("云南省", "昆明市", "五华区", "650021", "530102"),
    ("安徽省", "合肥市", "蜀山区", "230031", "340104"),
    ("新疆维吾尔自治区", "乌鲁木齐市", "天山区", "830002", "650102"),
    ("广西壮族自治区", "南宁市", "青秀区", "530022", "450103"),
];
const STREETS: &[&str] = &[
    "人民路",
    "中山路",
    "解放路",
    "建设路",
    "文一西路",
    "学院路",
    "科技园路",
    "长江路",
    "黄河路",
    "和平路",
    "新华街",
    "南京东路",
    "天府大道",
    "深南大道",
    "滨江路",
    "光明街",
    "花园路",
    "金沙江路",
];
const COMPOUNDS: &[&str] = &[
    "阳光花园",
    "幸福里小区",
    "锦绣华庭",
    "翠苑一区",
    "万科城",
    "绿城桂花园",
    "碧桂园",
    "金色家园",
    "和谐家园",
    "紫金公寓",
];
const MEMOS: &[&str] = &[
    "请尽快发货，谢谢",
    "不要放快递柜",
    "周末送货",
    "送人的，不要放发票和价格单",
    "麻烦包装结实一点",
    "发顺丰",
    "到了打电话",
    "颜色发错可以换吗",
];
const COMPANY_WORDS: &[&str] =
    &["云栈", "星河", "汇通", "鼎盛", "华创", "博远", "启明", "锦程", "瑞丰", "恒信", "蓝海", "天择"];
const INDUSTRIES: &[&str] = &["科技", "网络科技", "贸易", "电子商务", "文化传媒", "餐饮管理", "服饰", "信息技术"];
const MAIL_HOSTS: &[&str] = &["qq.com", "163.com", "126.com", "sina.com", "foxmail.com"];
/// Mobile prefixes in use in mainland China.
const PHONE_PREFIXES: &[&str] = &[
    "130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "155", "156", "157", "158",
    "159", "166", "176", "177", "180", "181", "182", "183", "185", "186", "187", "188", "189", "191", "198", "199",
];
/// (company code, waybill prefix, digits)
const CARRIERS: &[(&str, &str, usize)] = &[
    ("SF", "SF", 13),
    ("YTO", "YT", 13),
    ("ZTO", "", 14),
    ("STO", "77", 12),
    ("YUNDA", "43", 13),
    ("JD", "JDV", 12),
    ("EMS", "98", 11),
];

fn pick<'a, R: rand::Rng + ?Sized>(rng: &mut R, xs: &[&'a str]) -> &'a str {
    xs.choose(rng).copied().unwrap_or_default()
}

fn digits<R: rand::Rng + ?Sized>(rng: &mut R, n: usize) -> String {
    (0..n).map(|_| char::from(b'0' + rng.random_range(0..10u8))).collect()
}

/// A Chinese full name, e.g. `王小明`.
pub fn person_name<R: rand::Rng + ?Sized>(rng: &mut R) -> String {
    format!("{}{}", pick(rng, SURNAMES), pick(rng, GIVEN))
}

/// A mainland mobile number, e.g. `13812345678`.
pub fn phone<R: rand::Rng + ?Sized>(rng: &mut R) -> String {
    format!("{}{}", pick(rng, PHONE_PREFIXES), digits(rng, 8))
}

/// A buyer nickname in the styles marketplaces show (`tb8412...`, `买家小王`, `爱吃鱼的猫88`).
pub fn nick<R: rand::Rng + ?Sized>(rng: &mut R, surname_of: &str) -> String {
    match rng.random_range(0..5) {
        0 => format!("tb{}", digits(rng, 10)),
        1 => format!("买家小{}", surname_of.chars().next().unwrap_or('王')),
        2 => format!("{}{}", pick(rng, NICK_WORDS), rng.random_range(1..1000)),
        3 => format!("{}_{}", pick(rng, NICK_LATIN), digits(rng, 4)),
        _ => pick(rng, NICK_WORDS).to_owned(),
    }
}

/// A receiver at a real province / city / district with a plausible street address.
pub fn receiver<R: rand::Rng + ?Sized>(rng: &mut R, name: &str) -> Receiver {
    let &(province, city, district, zip, _) = REGIONS.choose(rng).expect("regions are not empty");
    let street = pick(rng, STREETS);
    let address = if rng.random_bool(0.6) {
        format!(
            "{street}{}号{}{}幢{}单元{}室",
            rng.random_range(1..999),
            pick(rng, COMPOUNDS),
            rng.random_range(1..30),
            rng.random_range(1..6),
            rng.random_range(1..33) * 100 + rng.random_range(1..5)
        )
    } else {
        format!("{street}{}号", rng.random_range(1..2000))
    };
    Receiver {
        name: name.to_owned(),
        phone: phone(rng),
        province: province.into(),
        city: city.into(),
        district: district.into(),
        address,
        zip: zip.into(),
    }
}

/// A whole buyer: nick and receiver (the receiver is usually the buyer, sometimes a gift).
pub fn buyer<R: rand::Rng + ?Sized>(rng: &mut R) -> Buyer {
    let name = person_name(rng);
    let nick = nick(rng, &name);
    let receiver_name = if rng.random_bool(0.9) { name } else { person_name(rng) };
    Buyer { nick, receiver: receiver(rng, &receiver_name) }
}

/// One of the notes buyers leave.
pub fn memo_text<R: rand::Rng + ?Sized>(rng: &mut R) -> String {
    pick(rng, MEMOS).to_owned()
}

/// One of the notes sellers leave on a trade in the marketplace console (卖家备注).
pub fn seller_memo_text<R: rand::Rng + ?Sized>(rng: &mut R) -> String {
    pick(rng, SELLER_MEMOS).to_owned()
}

const SELLER_MEMOS: &[&str] = &[
    "老客户，送小样",
    "已电话确认地址",
    "顺丰发货，运费已补",
    "买家要求开专票",
    "赠品：试用装两份",
    "优先发货",
    "换货单，原单已退",
    "包装加厚，易碎",
];

/// A company invoice for 15% of trades, a personal one for 10%, none for the rest.
pub fn invoice_request<R: rand::Rng + ?Sized>(rng: &mut R, receiver: &Receiver) -> Option<InvoiceRequest> {
    let roll: f64 = rng.random();
    if roll < 0.15 {
        let division =
            REGIONS.iter().find(|r| r.2 == receiver.district && r.1 == receiver.city).map_or("330110", |r| r.4);
        let city = receiver.city.trim_end_matches('市');
        Some(InvoiceRequest {
            kind: InvoiceKind::Company,
            title: format!("{city}{}{}有限公司", pick(rng, COMPANY_WORDS), pick(rng, INDUSTRIES)),
            tax_id: Some(social_credit_code(rng, division)),
            email: Some(format!("finance{}@{}", digits(rng, 3), pick(rng, MAIL_HOSTS))),
        })
    } else if roll < 0.25 {
        Some(InvoiceRequest {
            kind: InvoiceKind::Personal,
            title: receiver.name.clone(),
            tax_id: None,
            email: rng.random_bool(0.8).then(|| format!("{}@{}", digits(rng, 9), pick(rng, MAIL_HOSTS))),
        })
    } else {
        None
    }
}

/// The characters of a unified social credit code (GB 32100-2015), in value order.
const USCC_CHARS: &[u8] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";

/// An 18-character unified social credit code of an enterprise (`91` + division + organisation
/// code + check character) whose two check characters (GB 11714 for the organisation code,
/// GB 32100 for the whole) are correct, so invoicing validators accept it.
pub fn social_credit_code<R: rand::Rng + ?Sized>(rng: &mut R, division: &str) -> String {
    let org_body = digits(rng, 8);
    let weights = [3, 7, 9, 10, 5, 8, 4, 2];
    let s: u32 = org_body.bytes().zip(weights).map(|(b, w)| u32::from(b - b'0') * w).sum();
    let org_check = match 11 - s % 11 {
        10 => 'X',
        11 => '0',
        c => char::from(b'0' + c as u8),
    };
    let body = format!("91{division}{org_body}{org_check}");
    format!("{body}{}", uscc_check_char(&body))
}

/// The GB 32100 check character of the first 17 characters of a social credit code.
pub fn uscc_check_char(first17: &str) -> char {
    const W: [u32; 17] = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];
    let s: u32 =
        first17.bytes().zip(W).map(|(b, w)| USCC_CHARS.iter().position(|&c| c == b).unwrap_or(0) as u32 * w).sum();
    char::from(USCC_CHARS[((31 - s % 31) % 31) as usize])
}

/// A carrier code and a waybill number in its format, e.g. `("SF", "SF1234567890123")`.
pub fn waybill<R: rand::Rng + ?Sized>(rng: &mut R) -> (String, String) {
    let &(code, prefix, n) = CARRIERS.choose(rng).expect("carriers are not empty");
    (code.to_owned(), format!("{prefix}{}", digits(rng, n)))
}

/// An item of the demo catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogItem {
    pub outer_sku_id: String,
    pub title: String,
    pub price: Fen,
}

/// (code, title, price in fen, colours (code, name), sizes)
type Product = (&'static str, &'static str, Fen, &'static [(&'static str, &'static str)], &'static [&'static str]);
const PRODUCTS: &[Product] = &[
    ("TEE", "纯棉T恤", 7900, &[("RED", "红色"), ("WHT", "白色"), ("BLK", "黑色")], &["S", "M", "L", "XL"]),
    ("CUP", "真空保温杯 500ml", 8900, &[("SLV", "银色"), ("PNK", "粉色"), ("BLU", "蓝色")], &[]),
    ("EAR", "降噪蓝牙耳机", 29900, &[("WHT", "白色"), ("BLK", "黑色")], &[]),
    ("NUT", "每日坚果礼盒 750g", 13900, &[], &[]),
    ("DWN", "轻薄羽绒服", 39900, &[("BLK", "黑色"), ("NVY", "藏青")], &["M", "L", "XL"]),
    ("MSK", "玻尿酸补水面膜 10片装", 7900, &[], &[]),
    ("SHO", "缓震跑步鞋", 45900, &[("WHT", "白色"), ("GRY", "灰色")], &["40", "41", "42", "43"]),
    ("TEA", "明前龙井 250g", 26800, &[], &[]),
    ("DET", "洗衣凝珠 52颗", 4990, &[], &[]),
    ("RCE", "五常大米 5kg", 6990, &[], &[]),
    ("CSE", "手机壳 iPhone 16", 2990, &[("CLR", "透明"), ("BLK", "黑色")], &[]),
    ("LMP", "护眼台灯", 19900, &[], &[]),
];

/// The first `n` SKUs of a fixed demo catalog (39 distinct variants of 12 products, then numbered repeats), so
/// a shop's SKU codes are the same every run.
pub fn catalog(n: usize) -> Vec<CatalogItem> {
    let mut variants = Vec::new();
    for &(code, title, price, colours, sizes) in PRODUCTS {
        let colours: &[(&str, &str)] = if colours.is_empty() { &[("", "")] } else { colours };
        let sizes: &[&str] = if sizes.is_empty() { &[""] } else { sizes };
        for &(cc, cn) in colours {
            for &size in sizes {
                let sku = [code, cc, size].iter().filter(|p| !p.is_empty()).copied().collect::<Vec<_>>().join("-");
                let title = [title, cn, size].iter().filter(|p| !p.is_empty()).copied().collect::<Vec<_>>().join(" ");
                variants.push(CatalogItem { outer_sku_id: sku, title, price });
            }
        }
    }
    let base = variants.len();
    (0..n)
        .map(|i| {
            let v = &variants[i % base];
            if i < base {
                v.clone()
            } else {
                CatalogItem {
                    outer_sku_id: format!("{}-{}", v.outer_sku_id, i / base + 1),
                    title: v.title.clone(),
                    price: v.price,
                }
            }
        })
        .collect()
}

/// How the marketplace lists a catalog SKU: the item (product) it is a variant of, the item's
/// title and the variant's properties.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariantOf {
    /// The product part of the code, e.g. `TEE` for `TEE-RED-M` (`TEE-2` for its numbered
    /// repeat `TEE-RED-M-2`): variants with the same product are one item.
    pub product: String,
    pub item_title: String,
    /// e.g. `颜色:红色;尺码:M`; none for a product without colours or sizes.
    pub properties: Option<String>,
}

/// The item a catalog SKU code belongs to; `None` for a code not from the catalog (such a SKU
/// is an item of its own with one variant).
pub fn variant_of(code: &str) -> Option<VariantOf> {
    // A size can be a number too (`SHO-WHT-42`): the code as it is first, then as a repeat.
    catalog_variant(code, None).or_else(|| match code.rsplit_once('-') {
        Some((base, n)) if n.parse::<u32>().is_ok_and(|n| n >= 2) => catalog_variant(base, Some(n)),
        _ => None,
    })
}

fn catalog_variant(base: &str, repeat: Option<&str>) -> Option<VariantOf> {
    for &(product, title, _, colours, sizes) in PRODUCTS {
        let colours: &[(&str, &str)] = if colours.is_empty() { &[("", "")] } else { colours };
        let sizes: &[&str] = if sizes.is_empty() { &[""] } else { sizes };
        for &(cc, cn) in colours {
            for &size in sizes {
                let sku = [product, cc, size].iter().filter(|p| !p.is_empty()).copied().collect::<Vec<_>>().join("-");
                if sku != base {
                    continue;
                }
                let mut props = Vec::new();
                if !cn.is_empty() {
                    props.push(format!("颜色:{cn}"));
                }
                if !size.is_empty() {
                    props.push(format!("尺码:{size}"));
                }
                return Some(VariantOf {
                    product: repeat.map_or_else(|| product.to_owned(), |n| format!("{product}-{n}")),
                    item_title: title.to_owned(),
                    properties: (!props.is_empty()).then(|| props.join(";")),
                });
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn catalog_skus_are_variants_of_their_product() {
        let v = variant_of("TEE-RED-M").unwrap();
        assert_eq!((v.product.as_str(), v.item_title.as_str()), ("TEE", "纯棉T恤"));
        assert_eq!(v.properties.as_deref(), Some("颜色:红色;尺码:M"));
        assert_eq!(variant_of("CUP-SLV").unwrap().properties.as_deref(), Some("颜色:银色"));
        assert_eq!(variant_of("NUT").unwrap().properties, None);
        assert_eq!(variant_of("TEE-RED-M-2").unwrap().product, "TEE-2");
        assert_eq!(variant_of("TEE-1"), None);
        assert_eq!(variant_of("SHO-WHT-42").unwrap().properties.as_deref(), Some("颜色:白色;尺码:42"));
        assert!(catalog(100).iter().all(|c| variant_of(&c.outer_sku_id).is_some()));
    }

    #[test]
    fn social_credit_codes_check_out() {
        // A published code (Alibaba (China) Co., Ltd.).
        assert_eq!(uscc_check_char("91330100799655058"), 'B');
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..100 {
            let c = social_credit_code(&mut rng, "330110");
            assert_eq!(c.len(), 18);
            assert!(c.bytes().all(|b| USCC_CHARS.contains(&b)), "{c}");
            assert_eq!(uscc_check_char(&c[..17]), c.chars().last().unwrap());
        }
    }

    #[test]
    fn buyers_look_real() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let mut kinds = [0usize; 3];
        for _ in 0..2000 {
            let b = buyer(&mut rng);
            assert!(b.receiver.phone.len() == 11 && b.receiver.phone.starts_with('1'));
            assert!(!b.nick.is_empty() && !b.receiver.address.is_empty());
            match invoice_request(&mut rng, &b.receiver) {
                Some(InvoiceRequest { kind: InvoiceKind::Company, tax_id: Some(_), .. }) => kinds[0] += 1,
                Some(InvoiceRequest { kind: InvoiceKind::Personal, tax_id: None, .. }) => kinds[1] += 1,
                None => kinds[2] += 1,
                Some(other) => panic!("{other:?}"),
            }
        }
        assert!((200..400).contains(&kinds[0]) && (120..280).contains(&kinds[1]), "{kinds:?}");
    }

    #[test]
    fn catalog_is_stable_and_unique() {
        let c = catalog(100);
        assert_eq!(c[0].outer_sku_id, "TEE-RED-S");
        let mut ids: Vec<_> = c.iter().map(|i| i.outer_sku_id.clone()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 100);
    }
}
