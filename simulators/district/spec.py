"""Which real district the synthetic one imitates, and where its residents come from.

Real names and GB/T 2260 region codes make the output look like what a district data
office really receives, so address parsers and ID checks are exercised on plausible input.
Everything below the subdistrict (communities, estates, house numbers, people) is invented.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "DISTRICTS",
    "OTHER_REGIONS",
    "PLACE_STEMS",
    "VILLAGE_STEMS",
    "XIHU",
    "XUHUI",
    "DistrictSpec",
    "Region",
    "Subdistrict",
]


@dataclass(frozen=True, slots=True)
class Subdistrict:
    """A 街道 (urban) or 镇 (town, whose communities are 村 villages)."""

    name: str
    town: bool = False


@dataclass(frozen=True, slots=True)
class Region:
    """A county-level division: the first six digits of a resident ID born there."""

    code: str
    province: str
    city: str
    county: str


@dataclass(frozen=True, slots=True)
class DistrictSpec:
    """A real district to imitate.

    ``nearby`` are other county codes of the same province: residents born there carry
    those region codes in their IDs but are registered here.  ``lane_share`` is the share
    of estates entered from a lane (弄), high in Shanghai and low in Hangzhou.
    """

    key: str
    province: str
    city: str
    district: str
    region_code: str
    area_code: str
    subdistricts: tuple[Subdistrict, ...]
    roads: tuple[str, ...]
    nearby: tuple[str, ...]
    building_words: tuple[str, ...] = ("幢", "栋", "号楼")
    lane_share: float = 0.2

    @property
    def region(self) -> Region:
        return Region(self.region_code, self.province, self.city, self.district)


XIHU = DistrictSpec(
    key="xihu",
    province="浙江省",
    city="杭州市",
    district="西湖区",
    region_code="330106",
    area_code="0571",
    subdistricts=(
        Subdistrict("北山街道"),
        Subdistrict("西溪街道"),
        Subdistrict("灵隐街道"),
        Subdistrict("翠苑街道"),
        Subdistrict("文新街道"),
        Subdistrict("古荡街道"),
        Subdistrict("蒋村街道"),
        Subdistrict("留下街道"),
        Subdistrict("转塘街道"),
        Subdistrict("三墩镇", town=True),
        Subdistrict("双浦镇", town=True),
    ),
    roads=(
        "文三路",
        "文二路",
        "文一路",
        "文一西路",
        "学院路",
        "教工路",
        "古墩路",
        "天目山路",
        "曙光路",
        "西溪路",
        "灵隐路",
        "北山街",
        "保俶路",
        "玉古路",
        "求是路",
        "紫金港路",
        "余杭塘路",
        "丰潭路",
        "留和路",
        "之江路",
        "梅灵路",
        "龙井路",
        "莲花街",
        "益乐路",
        "申花路",
        "竞舟路",
        "华星路",
        "万塘路",
    ),
    nearby=("330102", "330105", "330108", "330109", "330110", "330302", "330602", "330782"),
    building_words=("幢", "幢", "栋", "号楼"),
    lane_share=0.15,
)

XUHUI = DistrictSpec(
    key="xuhui",
    province="上海市",
    city="",
    district="徐汇区",
    region_code="310104",
    area_code="021",
    subdistricts=(
        Subdistrict("天平路街道"),
        Subdistrict("湖南路街道"),
        Subdistrict("斜土路街道"),
        Subdistrict("枫林路街道"),
        Subdistrict("长桥街道"),
        Subdistrict("田林街道"),
        Subdistrict("虹梅路街道"),
        Subdistrict("康健新村街道"),
        Subdistrict("徐家汇街道"),
        Subdistrict("凌云路街道"),
        Subdistrict("龙华街道"),
        Subdistrict("漕河泾街道"),
        Subdistrict("华泾镇", town=True),
    ),
    roads=(
        "衡山路",
        "肇嘉浜路",
        "漕溪北路",
        "天钥桥路",
        "宜山路",
        "虹漕路",
        "田林路",
        "钦州路",
        "龙华中路",
        "零陵路",
        "斜土路",
        "东安路",
        "康健路",
        "桂林路",
        "罗城路",
        "华泾路",
    ),
    nearby=("310101", "310105", "310106", "310112", "310115"),
    building_words=("号", "号楼", "栋"),
    lane_share=0.7,
)

DISTRICTS: dict[str, DistrictSpec] = {XIHU.key: XIHU, XUHUI.key: XUHUI}

#: Where residents born outside the district come from: the provinces that send most
#: migrants to the Yangtze delta, plus a few big cities.
OTHER_REGIONS: tuple[Region, ...] = (
    Region("330102", "浙江省", "杭州市", "上城区"),
    Region("330105", "浙江省", "杭州市", "拱墅区"),
    Region("330110", "浙江省", "杭州市", "余杭区"),
    Region("330302", "浙江省", "温州市", "鹿城区"),
    Region("330381", "浙江省", "温州市", "瑞安市"),
    Region("330424", "浙江省", "嘉兴市", "海盐县"),
    Region("330521", "浙江省", "湖州市", "德清县"),
    Region("330602", "浙江省", "绍兴市", "越城区"),
    Region("330723", "浙江省", "金华市", "武义县"),
    Region("330782", "浙江省", "金华市", "义乌市"),
    Region("331002", "浙江省", "台州市", "椒江区"),
    Region("340104", "安徽省", "合肥市", "蜀山区"),
    Region("341221", "安徽省", "阜阳市", "临泉县"),
    Region("341222", "安徽省", "阜阳市", "太和县"),
    Region("341321", "安徽省", "宿州市", "砀山县"),
    Region("360121", "江西省", "南昌市", "南昌县"),
    Region("361102", "江西省", "上饶市", "信州区"),
    Region("410102", "河南省", "郑州市", "中原区"),
    Region("411521", "河南省", "信阳市", "罗山县"),
    Region("411721", "河南省", "驻马店市", "西平县"),
    Region("420102", "湖北省", "武汉市", "江岸区"),
    Region("421121", "湖北省", "黄冈市", "团风县"),
    Region("430102", "湖南省", "长沙市", "芙蓉区"),
    Region("431021", "湖南省", "郴州市", "桂阳县"),
    Region("510104", "四川省", "成都市", "锦江区"),
    Region("511321", "四川省", "南充市", "南部县"),
    Region("520102", "贵州省", "贵阳市", "南明区"),
    Region("320102", "江苏省", "南京市", "玄武区"),
    Region("320583", "江苏省", "苏州市", "昆山市"),
    Region("370102", "山东省", "济南市", "历下区"),
    Region("370781", "山东省", "潍坊市", "青州市"),
    Region("350102", "福建省", "福州市", "鼓楼区"),
    Region("440106", "广东省", "广州市", "天河区"),
    Region("450102", "广西壮族自治区", "南宁市", "兴宁区"),
    Region("500101", "重庆市", "", "万州区"),
    Region("610102", "陕西省", "西安市", "新城区"),
    Region("620102", "甘肃省", "兰州市", "城关区"),
    Region("230102", "黑龙江省", "哈尔滨市", "道里区"),
    Region("220102", "吉林省", "长春市", "南关区"),
    Region("210102", "辽宁省", "沈阳市", "和平区"),
    Region("130102", "河北省", "石家庄市", "长安区"),
    Region("140105", "山西省", "太原市", "小店区"),
    Region("110101", "北京市", "", "东城区"),
    Region("310101", "上海市", "", "黄浦区"),
)

#: Stems for community (社区), estate (小区) and village (村) names: invented but plausible.
PLACE_STEMS: tuple[str, ...] = (
    "翠苑",
    "文鼎",
    "嘉绿",
    "学院",
    "桂花",
    "紫荆",
    "金都",
    "竞舟",
    "益乐",
    "德加",
    "文华",
    "华星",
    "庆丰",
    "申花",
    "政苑",
    "府苑",
    "求智",
    "曙光",
    "保俶",
    "玉泉",
    "九莲",
    "马塍",
    "双龙",
    "嘉南",
    "枫华",
    "新金",
    "花园",
    "景芳",
    "星洲",
    "丰潭",
    "锦绣",
    "和睦",
    "绿园",
    "松涛",
    "南都",
    "耀江",
    "蓝天",
    "阳光",
    "东海",
    "清水",
    "西城",
    "梧桐",
    "香樟",
    "银杏",
    "荷花",
    "溪桥",
    "月桂",
    "云栖",
)
VILLAGE_STEMS: tuple[str, ...] = (
    "杜家",
    "周浦",
    "袁浦",
    "东穆坞",
    "外桐坞",
    "石马",
    "灯塔",
    "方家",
    "绕城",
    "振华",
    "沈家",
    "朱家",
    "新沙",
    "桑园",
    "湖埠",
    "小江",
    "铜鉴湖",
    "何家",
    "上泗",
    "大诸桥",
)
