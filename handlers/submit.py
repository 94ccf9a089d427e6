"""提交: add one or more web links to our catalogue for an indicator."""

from bot import rules, texts
from bot.commands import Context, IndicatorParam, LinksParam, command
from bot.messages import Reply


@command("提交", IndicatorParam(), LinksParam(), aliases=("上报",), preload="one")
def submit(ctx: Context, ind, links) -> Reply:
    """提交 <编号> <链接…> [名称]：提交网上已公开材料的网址，可一次多个链接
    例：提交 12 https://www.example.gov.cn/a.html 双随机一公开实施方案
    多份材料可以每行写一个链接和它的名称（名称写在链接前后都可以）。
    不写名称时，系统会自动读取网页标题作为材料名称。"""
    rules.refuse_secret_links(ind, links)
    a, raw = ctx.own(ind)
    who = ctx.binding.name or ctx.msg.user_id
    edit = rules.add_links(a, ind, links, who=who, by=ctx.actor, at=ctx.now_iso())
    ctx.apply(a, raw, edit)
    after, new = edit.after, edit.link_urls
    skipped = sum(len(g.urls) for g in links) - len(new)
    lines = [
        f"已收到第{ind.id}项的 {len(new)} 个链接，本项现有材料 {len(after.materials)} 份（{after.status.label}）。"
    ]
    if skipped:
        lines.append(f"另有 {skipped} 个链接之前已提交，已跳过。")
    if any(not m.title for m in after.materials[len(a.materials) :]):
        lines.append("未写名称的材料将自动使用网页标题。")
    if not after.is_complete:
        lines.append(f"材料齐全后请发送「完成 {ind.id}」。")
    lines.append(texts.review_again(a, after))
    return Reply("\n".join(x for x in lines if x))
