//! Sample labels for tests, the benchmark, the example and the documentation: the package of
//! COURIER.md's `POST /courier/v1/waybills` example, and variations on it.

use crate::{Label, LabelItem, Party};

/// The seller's warehouse of COURIER.md's example.
pub fn sender() -> Party {
    Party {
        name: "云栈优品仓".into(),
        phone: "0571-88886666".into(),
        province: "浙江省".into(),
        city: "杭州市".into(),
        district: "余杭区".into(),
        address: "仓前街道良睦路1399号".into(),
    }
}

/// COURIER.md's package: one parcel, ZTO, to 都江堰.
pub fn label() -> Label {
    Label {
        cp_code: "ZTO".into(),
        cp_name: "中通快递".into(),
        waybill_code: "ZT7300012345678".into(),
        parent_waybill_code: None,
        parcel_no: 1,
        parcel_count: 1,
        sortation_name: "830 都江堰".into(),
        route_code: "830-120-00 012".into(),
        consolidation_code: "成都转运中心".into(),
        recipient: Party {
            name: "王小明".into(),
            phone: "13800000000".into(),
            province: "四川省".into(),
            city: "成都市".into(),
            district: "都江堰市".into(),
            address: "幸福大道88号".into(),
        },
        sender: sender(),
        items: vec![LabelItem { name: "纯棉T恤 红色 M".into(), count: 2 }],
        trade_ids: vec!["T2026111100000001".into()],
        remark: None,
        printed_at: "2026-11-11 09:30".into(),
    }
}

/// A three-parcel waybill (子母件): the parent's code on every label, the children's own codes.
pub fn multi_parcel() -> Vec<Label> {
    let parent = "ZT7300012345600";
    let codes = [parent, "ZT7300012345601", "ZT7300012345602"];
    codes
        .iter()
        .enumerate()
        .map(|(i, code)| Label {
            waybill_code: (*code).into(),
            parent_waybill_code: Some(parent.into()),
            parcel_no: i as u32 + 1,
            parcel_count: codes.len() as u32,
            items: vec![
                LabelItem { name: "实木书桌 1.2米 胡桃色".into(), count: 1 },
                LabelItem { name: "书桌配套抽屉柜".into(), count: 1 },
            ],
            remark: Some("大件，请送货上门".into()),
            ..label()
        })
        .collect()
}

/// Everything too long: the recipient's name and address, many items with long titles, many
/// trade ids and a long memo.
pub fn overflowing() -> Label {
    let mut l = label();
    l.recipient.name = "欧阳王小明（云栈会员）收货请联系前台".into();
    l.recipient.address = "幸福大道88号".to_owned() + &"锦绣花园小区东门快递柜旁边的物业服务中心三楼".repeat(4);
    l.sender.address = "仓前街道良睦路1399号".to_owned() + &"梦想小镇互联网村".repeat(6);
    l.sortation_name = "830 都江堰 青城山 龙池 紫坪铺 虹口 向峨 蒲阳".into();
    l.consolidation_code = "成都转运中心 双流分拨 温江二级中转场 郫都区集散".into();
    l.items = (1..=14)
        .map(|i| LabelItem {
            name: format!("云栈2026春季新款纯棉圆领短袖T恤男女同款宽松百搭打底衫 款{i}"), count: i
        })
        .collect();
    l.trade_ids = (1..=9).map(|i| format!("T20261111{i:08}")).collect();
    l.remark = Some("请在工作日白天派送，周末家中无人；".repeat(6));
    l
}

/// SF's stock: the same package sent with 顺丰.
pub fn sf() -> Label {
    Label {
        cp_code: "SF".into(),
        cp_name: "顺丰速运".into(),
        waybill_code: "SF1402345678901".into(),
        sortation_name: "028WF-都江堰".into(),
        route_code: "755WF-028A 012".into(),
        consolidation_code: "成都双流中转场".into(),
        ..label()
    }
}

const NAMES: [&str; 8] = ["王小明", "李娜", "张伟", "刘洋", "陈静", "杨帆", "赵磊", "黄丽"];
const PLACES: [(&str, &str, &str, &str, &str); 6] = [
    ("四川省", "成都市", "都江堰市", "830 都江堰", "成都转运中心"),
    ("广东省", "深圳市", "南山区", "755 南山", "深圳转运中心"),
    ("北京市", "北京市", "朝阳区", "010 朝阳", "北京转运中心"),
    ("上海市", "上海市", "浦东新区", "021 浦东", "上海转运中心"),
    ("湖北省", "武汉市", "洪山区", "027 洪山", "武汉转运中心"),
    ("浙江省", "宁波市", "鄞州区", "574 鄞州", "宁波转运中心"),
];
const STREETS: [&str; 5] = ["幸福大道", "科技园南路", "建国路", "世纪大道", "珞喻路"];
const ITEMS: [&str; 5] = ["纯棉T恤 红色 M", "牛仔裤 蓝色 30码", "运动鞋 白色 42码", "保温杯 500ml", "羊毛围巾 灰色"];

/// `n` different labels of one seller (a morning's batch), deterministic: what the benchmark
/// renders. Every recipient and code differs; addresses and items vary.
pub fn batch(n: usize) -> Vec<Label> {
    (0..n)
        .map(|i| {
            let (province, city, district, sortation, hub) = PLACES[i % PLACES.len()];
            let items = (0..1 + i % 3)
                .map(|k| LabelItem { name: ITEMS[(i + k) % ITEMS.len()].into(), count: 1 + (i + k) as u32 % 3 })
                .collect();
            Label {
                waybill_code: format!("ZT73{:011}", 12_345_678 + i),
                sortation_name: sortation.into(),
                route_code: format!("{}-{:03}-{:02} {:03}", &sortation[..3], 100 + i % 37, i % 13, i % 997),
                consolidation_code: hub.into(),
                recipient: Party {
                    name: NAMES[i % NAMES.len()].into(),
                    phone: format!("1{}{:09}", 3 + i % 7, 1000 + i * 7919 % 1_000_000_000),
                    province: province.into(),
                    city: city.into(),
                    district: district.into(),
                    address: format!(
                        "{}{}号{}栋{}室",
                        STREETS[i % STREETS.len()],
                        1 + i % 300,
                        1 + i % 12,
                        101 + i % 20
                    ),
                },
                items,
                trade_ids: vec![format!("T20261111{:08}", i + 1)],
                remark: (i % 4 == 0).then(|| "送货前请电话联系".to_owned()),
                ..label()
            }
        })
        .collect()
}
