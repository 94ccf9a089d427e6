"""提交: add one or more web links to our catalogue for an indicator."""

from bot import texts
from bot.catalog import SECRET_MARK
from bot.commands import Context, IndicatorParam, LinksParam, UserError, command
from bot.messages import Reply
from bot.progress import Material, status_after_edit

MAX_MATERIALS = 50


@command("提交", IndicatorParam(), LinksParam(), aliases=("上报",), preload="one")
def submit(ctx: Context, ind, links) -> Reply:
    """提交 <编号> <链接…> [名称]：提交网上已公开材料的网址，可一次多个链接
    例：提交 12 https://www.example.gov.cn/a.html 双随机一公开实施方案
    多份材料可以每行写一个链接和它的名称（名称写在链接前后都可以）。
    不写名称时，系统会自动读取网页标题作为材料名称。"""
    secret = next((g.name for g in links if SECRET_MARK in g.name), None)
    if ind.is_secret or secret is not None:
        why = f"第{ind.id}项的考评要点注明涉密" if ind.is_secret else "材料名称注明涉密"
        name = secret or next((g.name for g in links if g.name), "")
        title = name.replace(SECRET_MARK, "").strip("（）() ") or ind.evidence.split("。")[0]
        title = texts.quoted(title) or "材料名称"
        raise UserError(texts.SECRET_NO_LINK.format(why=why, n=ind.id, title=title))
    a, raw = ctx.own(ind)
    have = {m.url for m in a.materials}
    urls = [u for g in links for u in g.urls]
    new = [u for u in urls if u not in have]
    if not new:
        raise UserError(
            f"这些链接已在第{ind.id}项的材料中，无需重复提交。发送「查看 {ind.id}」核对。"
        )
    if len(a.materials) + len(new) > MAX_MATERIALS:
        raise UserError(f"第{ind.id}项最多 {MAX_MATERIALS} 份材料，请先删除不需要的材料。")
    at = ctx.now_iso()
    who = ctx.binding.name or ctx.msg.user_id
    added = tuple(Material(t, u, who, at) for t, u in _titled(links, have))
    materials = a.materials + added
    after = a.changed(
        ctx.actor, at, materials=materials, status=status_after_edit(a, materials, a.explanation)
    )
    ctx.commit(a, raw, after, "submit", link_urls=tuple(new))
    skipped = len(urls) - len(new)
    lines = [
        f"已收到第{ind.id}项的 {len(new)} 个链接，本项现有材料 {len(materials)} 份（{after.status.label}）。"
    ]
    if skipped:
        lines.append(f"另有 {skipped} 个链接之前已提交，已跳过。")
    if any(not m.title for m in added):
        lines.append("未写名称的材料将自动使用网页标题。")
    if not after.is_complete:
        lines.append(f"材料齐全后请发送「完成 {ind.id}」。")
    lines.append(texts.review_again(a, after))
    return Reply("\n".join(x for x in lines if x))


def _titled(groups, have: set[str]) -> list[tuple[str, str]]:
    """(title, url) of each new link: links that share one name are numbered （1）（2）."""
    out = []
    for g in groups:
        new = [u for u in g.urls if u not in have]
        for i, u in enumerate(new, start=1):
            out.append((f"{g.name}（{i}）" if g.name and len(new) > 1 else g.name, u))
    return out
