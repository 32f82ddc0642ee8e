//! Where a parcel goes: the 31 mainland provinces with their sorting hubs, and the routing data
//! a carrier prints on a label for a recipient — 大头笔 (`sortation_name`), 三段码
//! (`route_code`) and 集包地 (`consolidation_code`). Everything is a pure function of the
//! carrier and the address, as at a real carrier: the same address always routes the same way.

use super::{Address, Carrier, PrintData};
use crate::domain::ids::fnv1a;

/// A mainland province-level division.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Province {
    /// As addresses write it, e.g. `四川省`, `广西壮族自治区`.
    pub name: &'static str,
    /// As labels write it, e.g. `四川`, `广西`.
    pub short: &'static str,
    /// The city of its main sorting hub (the capital, or the logistics centre).
    pub hub_city: &'static str,
}

const fn p(name: &'static str, short: &'static str, hub_city: &'static str) -> Province {
    Province { name, short, hub_city }
}

/// The 31 province-level divisions of the mainland.
pub const PROVINCES: [Province; 31] = [
    p("北京市", "北京", "北京"),
    p("天津市", "天津", "天津"),
    p("河北省", "河北", "石家庄"),
    p("山西省", "山西", "太原"),
    p("内蒙古自治区", "内蒙古", "呼和浩特"),
    p("辽宁省", "辽宁", "沈阳"),
    p("吉林省", "吉林", "长春"),
    p("黑龙江省", "黑龙江", "哈尔滨"),
    p("上海市", "上海", "上海"),
    p("江苏省", "江苏", "南京"),
    p("浙江省", "浙江", "杭州"),
    p("安徽省", "安徽", "合肥"),
    p("福建省", "福建", "福州"),
    p("江西省", "江西", "南昌"),
    p("山东省", "山东", "济南"),
    p("河南省", "河南", "郑州"),
    p("湖北省", "湖北", "武汉"),
    p("湖南省", "湖南", "长沙"),
    p("广东省", "广东", "广州"),
    p("广西壮族自治区", "广西", "南宁"),
    p("海南省", "海南", "海口"),
    p("重庆市", "重庆", "重庆"),
    p("四川省", "四川", "成都"),
    p("贵州省", "贵州", "贵阳"),
    p("云南省", "云南", "昆明"),
    p("西藏自治区", "西藏", "拉萨"),
    p("陕西省", "陕西", "西安"),
    p("甘肃省", "甘肃", "兰州"),
    p("青海省", "青海", "西宁"),
    p("宁夏回族自治区", "宁夏", "银川"),
    p("新疆维吾尔自治区", "新疆", "乌鲁木齐"),
];

/// Cities big enough in e-commerce to have a hub of their own: (province short, city short).
const CITY_HUBS: &[(&str, &str)] = &[
    ("广东", "深圳"),
    ("广东", "东莞"),
    ("浙江", "宁波"),
    ("浙江", "金华"),
    ("浙江", "温州"),
    ("江苏", "苏州"),
    ("江苏", "无锡"),
    ("山东", "青岛"),
    ("福建", "厦门"),
    ("福建", "泉州"),
    ("辽宁", "大连"),
];

/// The province an address names: its full name (`四川省`) or its short one (`四川`).
pub fn province(name: &str) -> Option<&'static Province> {
    let name = name.trim();
    PROVINCES.iter().find(|p| p.name == name || p.short == name)
}

/// `name` without the first of `suffixes` it ends with, if at least two characters remain.
fn strip<'a>(name: &'a str, suffixes: &[&str]) -> &'a str {
    for s in suffixes {
        if let Some(rest) = name.strip_suffix(s)
            && rest.chars().count() >= 2
        {
            return rest;
        }
    }
    name
}

/// A city as labels write it: `成都市` → `成都`, `阿坝藏族羌族自治州` → `阿坝`.
pub fn city_short(city: &str) -> String {
    let city = city.trim();
    if city.ends_with("自治州") {
        return city.chars().take(2).collect();
    }
    strip(city, &["地区", "市", "盟"]).to_owned()
}

/// A district as labels write it: `余杭区` → `余杭`, `都江堰市` → `都江堰`, `浦东新区` → `浦东`.
pub fn district_short(district: &str) -> String {
    let district = district.trim();
    if district.ends_with("自治县") {
        return district.chars().take(2).collect();
    }
    strip(district, &["新区", "区", "县", "市", "旗"]).to_owned()
}

/// The city whose hub a parcel for (`province`, `city`) is bagged for.
pub fn hub_city(province: &Province, city: &str) -> String {
    let city = city_short(city);
    if CITY_HUBS.iter().any(|&(p, c)| p == province.short && c == city) { city } else { province.hub_city.to_owned() }
}

/// A hub as `carrier` names it, e.g. `成都转运中心` (ZTO), `成都中转场` (SF).
pub fn hub_name(carrier: Carrier, hub_city: &str) -> String {
    let kind = match carrier {
        Carrier::Zto | Carrier::Yto | Carrier::Sto => "转运中心",
        Carrier::Yunda => "分拨中心",
        Carrier::Sf => "中转场",
        Carrier::Jd => "分拣中心",
        Carrier::Ems => "邮区中心局",
    };
    format!("{hub_city}{kind}")
}

fn number(parts: &[&str], modulo: u64) -> u64 {
    fnv1a(parts) % modulo
}

/// The label's routing data for a recipient. The province must be one of [`PROVINCES`]
/// (checked by the caller). The first segment of the 三段码 is the destination hub's, the
/// second the delivering branch's (by district), the third the delivery round's (by street
/// address). Carriers that print a number on top (ZTO, STO, YUNDA, JD) print the hub number
/// and the district (`830 都江堰`); the others print the city and district (`杭州 余杭`).
pub fn print_data(carrier: Carrier, province: &Province, to: &Address) -> PrintData {
    let city = city_short(&to.city);
    let district = district_short(&to.district);
    let hub = hub_city(province, &to.city);
    let cp = carrier.code();
    let seg1 = 100 + number(&["hub", cp, province.short, &hub], 900);
    let seg2 = 1 + number(&["branch", cp, province.short, &city, &district], 999);
    let round = number(&["round", cp, province.short, &city, &district, to.address.trim()], 10 * 300);
    let route_code = format!("{seg1}-{seg2:03}-{:02} {:03}", round / 300, 1 + round % 300);
    let place = if district.is_empty() { city.clone() } else { district };
    let sortation_name = match carrier {
        Carrier::Zto | Carrier::Sto | Carrier::Yunda | Carrier::Jd => format!("{seg1} {place}"),
        Carrier::Yto | Carrier::Sf | Carrier::Ems if place == city => format!("{} {city}", province.short),
        Carrier::Yto | Carrier::Sf | Carrier::Ems => format!("{city} {place}"),
    };
    PrintData {
        sortation_name,
        route_code,
        consolidation_code: hub_name(carrier, &hub),
        cp_name: carrier.name().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn to(province: &str, city: &str, district: &str, address: &str) -> Address {
        Address {
            name: "王小明".into(),
            phone: "13800000000".into(),
            province: province.into(),
            city: city.into(),
            district: district.into(),
            address: address.into(),
        }
    }

    #[test]
    fn every_province_has_its_own_hub() {
        let names: HashSet<_> = PROVINCES.iter().map(|p| p.name).collect();
        let hubs: HashSet<_> = PROVINCES.iter().map(|p| p.hub_city).collect();
        assert_eq!((names.len(), hubs.len()), (31, 31));
        for p in &PROVINCES {
            assert_eq!(province(p.name), Some(p));
            assert_eq!(province(p.short), Some(p));
        }
        assert_eq!(province("台湾省"), None);
        assert_eq!(province(""), None);
    }

    #[test]
    fn names_shorten_like_labels() {
        assert_eq!(city_short("成都市"), "成都");
        assert_eq!(city_short("乌鲁木齐市"), "乌鲁木齐");
        assert_eq!(city_short("阿坝藏族羌族自治州"), "阿坝");
        assert_eq!(city_short("锡林郭勒盟"), "锡林郭勒");
        assert_eq!(district_short("都江堰市"), "都江堰");
        assert_eq!(district_short("浦东新区"), "浦东");
        assert_eq!(district_short("余杭区"), "余杭");
        assert_eq!(district_short("东区"), "东区", "a one-character name keeps its suffix");
        assert_eq!(district_short("长阳土家族自治县"), "长阳");
    }

    #[test]
    fn routing_follows_the_address() {
        let sc = province("四川省").unwrap();
        let a = print_data(Carrier::Zto, sc, &to("四川省", "成都市", "都江堰市", "幸福大道88号"));
        assert_eq!(a.consolidation_code, "成都转运中心");
        assert_eq!(a.cp_name, "中通快递");
        let seg1 = a.route_code.split('-').next().unwrap();
        assert_eq!(a.sortation_name, format!("{seg1} 都江堰"));
        let shape = a.route_code.as_bytes();
        assert_eq!(a.route_code.len(), 14, "{}", a.route_code);
        assert_eq!((shape[3], shape[7], shape[10]), (b'-', b'-', b' '));
        assert_eq!(a, print_data(Carrier::Zto, sc, &to("四川", "成都市", "都江堰市", "幸福大道88号")), "same place");
        let other_district = print_data(Carrier::Zto, sc, &to("四川省", "成都市", "武侯区", "幸福大道88号"));
        assert_eq!(other_district.sortation_name, format!("{seg1} 武侯"), "same hub, another branch");
        assert_ne!(other_district.route_code[4..7], a.route_code[4..7]);
        let zj = province("浙江省").unwrap();
        let hz = print_data(Carrier::Yto, zj, &to("浙江省", "杭州市", "余杭区", "文一西路969号"));
        assert_eq!((hz.sortation_name.as_str(), hz.consolidation_code.as_str()), ("杭州 余杭", "杭州转运中心"));
        let nb = print_data(Carrier::Yto, zj, &to("浙江省", "宁波市", "鄞州区", "文一西路969号"));
        assert_eq!((nb.sortation_name.as_str(), nb.consolidation_code.as_str()), ("宁波 鄞州", "宁波转运中心"));
        let sf = print_data(Carrier::Sf, zj, &to("浙江省", "杭州市", "", "文一西路969号"));
        assert_eq!((sf.sortation_name.as_str(), sf.consolidation_code.as_str()), ("浙江 杭州", "杭州中转场"));
        assert_eq!(print_data(Carrier::Ems, sc, &to("四川省", "成都市", "", "x")).consolidation_code, "成都邮区中心局");
    }

    #[test]
    fn hubs_of_all_provinces_differ_for_each_carrier() {
        for c in Carrier::ALL {
            let hubs: HashSet<String> = PROVINCES
                .iter()
                .map(|p| print_data(c, p, &to(p.name, &format!("{}市", p.hub_city), "", "x")).consolidation_code)
                .collect();
            assert_eq!(hubs.len(), 31, "{c}");
        }
    }
}
